//! One published track as the core holds it: where its packets come from (a publishing
//! connection here, or another worker's shard of a spread room), its simulcast layers, and who
//! receives it.

use super::{PeerId, WorkerIndex};
use crate::ids::ParticipantSid;
use crate::layers::Layer;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use rtc::rtp_transceiver::RTCRtpReceiverId;
use std::collections::HashMap;

/// A track arriving on some publisher connection.
pub(super) struct UpTrack {
    pub(super) owner: ParticipantSid,
    /// The publisher's own id for the track (msid), which its client knows it by.
    pub(super) remote_track_id: String,
    pub(super) room: String,
    /// The publisher leg's id for the RFC 6464 audio-level extension, if negotiated.
    pub(super) audio_level_ext: Option<u8>,
    /// Where its packets come from: a connection here, or another worker's shard of the room.
    pub(super) origin: TrackOrigin,
    /// One per simulcast encoding (one for a plain track).
    pub(super) layers: Vec<Layer>,
    pub(super) codec: RTCRtpCodec,
    pub(super) video_codec: Option<crate::codec::VideoCodec>,
    /// Subscriber connections with a down track for this track.
    pub(super) subscribers: Vec<PeerId>,
    /// Muted by a moderator: nothing is forwarded.
    pub(super) force_muted: bool,
    /// Layers other workers' subscribers need (a local track of a spread room, `relay.rs`).
    pub(super) remote_demand: HashMap<WorkerIndex, Vec<u32>>,
}

/// Where an [`UpTrack`]'s packets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrackOrigin {
    /// A publishing connection of this core, and the receiver it arrives on.
    Local {
        publisher: PeerId,
        receiver_id: RTCRtpReceiverId,
    },
    /// Another worker's shard of the room relays them (`relay.rs`).
    Relayed(WorkerIndex),
}

impl TrackOrigin {
    pub(super) fn relayed_from(&self) -> Option<WorkerIndex> {
        match self {
            TrackOrigin::Relayed(w) => Some(*w),
            TrackOrigin::Local { .. } => None,
        }
    }

    pub(super) fn publisher(&self) -> Option<PeerId> {
        match self {
            TrackOrigin::Local { publisher, .. } => Some(*publisher),
            TrackOrigin::Relayed(_) => None,
        }
    }
}
