//! One forwarded track on a subscriber's connection: which layer it gets, and the rewriting
//! state that makes layer and publisher changes invisible to the subscriber's decoder.

use crate::allocation::UpgradeHold;
use crate::forwarder::Forwarder;
use crate::layers::{choose, choose_capped, Layer, LayerLimit, LayerSwitch};
use crate::rooms::MediaKind;
use crate::vp8::Vp8Munger;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use rtc::rtp_transceiver::RTCRtpSenderId;
use std::time::Instant;

/// One forwarded track on a subscriber's connection.
pub(super) struct DownTrack {
    pub(super) sender_id: RTCRtpSenderId,
    pub(super) forwarder: Forwarder,
    pub(super) codec: RTCRtpCodec,
    /// Which simulcast layer this subscriber gets, and what it asked for.
    pub(super) layer: LayerSwitch,
    pub(super) limit: LayerLimit,
    /// Picture id continuity across layer switches (VP8 only).
    pub(super) vp8: Option<Vp8Munger>,
    /// The bandwidth allocation: `Capped(rank)`, or `Paused` for lack of room.
    pub(super) allocation: Allocation,
    pub(super) hold: UpgradeHold,
    /// When this subscriber started waiting for a keyframe of its target layer.
    pub(super) waiting_since: Option<Instant>,
    /// The previous layer was cut for congestion: the next keyframe is a layer switch.
    pub(super) cut: bool,
}

/// The payload type the leg negotiated for the down track's codec, once it is negotiated.
pub(super) fn negotiated_payload_type(pc: &mut RTCPeerConnection, down: &DownTrack) -> Option<u8> {
    let mut sender = pc.rtp_sender(down.sender_id)?;
    sender
        .get_parameters()
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| {
            c.rtp_codec
                .mime_type
                .eq_ignore_ascii_case(&down.codec.mime_type)
        })
        .map(|c| c.payload_type)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Allocation {
    /// No estimate yet: the subscriber's own limit decides.
    Unlimited,
    Capped(usize),
    Paused,
}

impl DownTrack {
    pub(super) fn new(
        sender_id: RTCRtpSenderId,
        kind: MediaKind,
        ssrc: u32,
        codec: RTCRtpCodec,
    ) -> Self {
        let is_vp8 = crate::codec::VideoCodec::from_mime(&codec.mime_type)
            == Some(crate::codec::VideoCodec::Vp8);
        Self {
            sender_id,
            forwarder: Forwarder::new(kind, codec.clock_rate, ssrc, rand::random(), rand::random()),
            codec,
            layer: LayerSwitch::default(),
            limit: LayerLimit::default(),
            vp8: is_vp8.then(Vp8Munger::default),
            allocation: Allocation::Unlimited,
            hold: UpgradeHold::default(),
            waiting_since: None,
            cut: false,
        }
    }

    /// Carries another negotiated codec from now on (a viewer slot following a publisher
    /// that sends a different one); picture id rewriting follows the codec.
    pub(super) fn set_codec(&mut self, codec: RTCRtpCodec, payload_type: u8) {
        if codec.mime_type.eq_ignore_ascii_case(&self.codec.mime_type) {
            return;
        }
        let is_vp8 = crate::codec::VideoCodec::from_mime(&codec.mime_type)
            == Some(crate::codec::VideoCodec::Vp8);
        self.vp8 = is_vp8.then(Vp8Munger::default);
        self.forwarder.set_payload_type(Some(payload_type));
        self.codec = codec;
    }

    /// The SSRC this subscriber should get of `layers` now.
    pub(super) fn target(&self, layers: &[Layer]) -> Option<u32> {
        match self.allocation {
            Allocation::Unlimited => choose(layers, self.limit),
            Allocation::Capped(rank) => choose_capped(layers, self.limit, Some(rank)),
            Allocation::Paused => None,
        }
    }

    /// The next packet comes from another stream (layer or publisher).
    pub(super) fn switch_source(&mut self) {
        self.forwarder.switch_source();
        if let Some(vp8) = &mut self.vp8 {
            vp8.switch_source();
        }
    }
}
