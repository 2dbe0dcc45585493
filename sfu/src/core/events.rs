//! What the core hands out: events for signaling, datagrams to send, and its configuration.

use crate::flow::Flow;
use crate::ids::{ParticipantSid, PeerRole, TrackSid};
use crate::rooms::{ParticipantSnapshot, TrackMeta};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Duration;

/// A candidate as the browser API spells it, without webrtc-rs types leaking to signaling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u16>,
    pub username_fragment: Option<String>,
}

/// Connection states signaling may want to log or show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

/// What the core tells one participant's signaling session.
#[derive(Debug, Clone, PartialEq)]
pub enum SfuEvent {
    ParticipantJoined(ParticipantSnapshot),
    ParticipantLeft(ParticipantSid),
    /// A hidden viewer (WHEP) came or went: for the room's moderators only, signaling decides.
    ViewerJoined(ParticipantSnapshot),
    ViewerLeft(ParticipantSid),
    TrackPublished(TrackMeta),
    TrackUnpublished {
        track: TrackSid,
        owner: ParticipantSid,
    },
    TrackMuted {
        track: TrackSid,
        owner: ParticipantSid,
        muted: bool,
    },
    /// This participant was removed from the room (by a moderator, or the room ended); the
    /// session says goodbye with `reason`.
    Removed {
        reason: String,
    },
    SubscriberOffer {
        sdp: String,
    },
    IceCandidate {
        role: PeerRole,
        candidate: Candidate,
    },
    PeerState {
        role: PeerRole,
        state: PeerState,
    },
    /// Who is speaking in the room, loudest first, with loudness in 0..=1. Sent on change.
    ActiveSpeakers(Vec<(ParticipantSid, f32)>),
    /// To a publisher (dynacast): send only these simulcast encodings of `track` (the client's
    /// sender track id `track_id`); nobody needs the others.
    PublisherLayers {
        track: TrackSid,
        track_id: String,
        active_rids: Vec<String>,
    },
}

/// A datagram to send over `flow` (from the UDP socket or the ICE-TCP connection whose
/// advertised address is its `local`).
#[derive(Debug)]
pub struct Transmit {
    pub flow: Flow,
    pub payload: BytesMut,
}

#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Host candidates: each advertised IP on the shared UDP port.
    pub candidates: Vec<SocketAddr>,
    /// Passive ICE-TCP host candidates (RFC 6544): each advertised IP on the TCP port; empty
    /// when ICE-TCP is off.
    pub tcp_candidates: Vec<SocketAddr>,
    /// At most one keyframe request per published track in this interval.
    pub keyframe_request_interval: Duration,
    /// See [`crate::SfuConfig::connect_timeout`].
    pub connect_timeout: Duration,
    pub limits: crate::config::Limits,
}
