//! One packet of a track to every subscriber of it on this core: layer accounting, the layer
//! each subscriber is on, header rewriting, the write into each subscriber connection. Shared
//! by packets from a local publisher (`publish.rs`) and relayed ones (`relay.rs`).

use super::{Peer, PeerId, UpTrack};
use crate::codec::VideoCodec;
use crate::forwarder::Decision;
use crate::ids::{ParticipantSid, TrackSid};
use crate::layers::LayerAction;
use crate::speaker::{SpeakerConfig, SpeakerDetector};
use crate::stats::SfuStats;
use rtc::shared::marshal::MarshalSize;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// The RFC 6464 level (0 loudest, 127 silence) of an audio packet, from extension `ext_id`.
pub(super) fn audio_level(packet: &rtc::rtp::Packet, ext_id: u8) -> Option<u8> {
    packet
        .header
        .extensions
        .iter()
        .find(|e| e.id == ext_id)
        .and_then(|e| e.payload.first())
        .map(|b| b & 0x7f)
}

/// Feeds a track's audio level to its room's speaker detection.
pub(super) fn observe_level(
    speakers: &mut HashMap<String, SpeakerDetector<ParticipantSid>>,
    timers: &mut super::TimerTable,
    up: &UpTrack,
    level: u8,
    now: Instant,
) {
    // Field by field: the packet path must not clone ids per packet.
    match speakers.get_mut(&up.room) {
        Some(detector) => detector.observe(&up.owner, level, now),
        None => {
            let mut detector = SpeakerDetector::new(SpeakerConfig::default());
            detector.observe(&up.owner, level, now);
            speakers.insert(up.room.clone(), detector);
        }
    }
    timers.start(super::Timer::Speakers, now + super::SPEAKER_TICK);
}

/// What fanning a packet out touches besides its track.
pub(super) struct Fan<'a> {
    pub(super) peers: &'a mut HashMap<PeerId, Box<Peer>>,
    pub(super) stats: &'a SfuStats,
    pub(super) dirty: &'a mut BTreeSet<PeerId>,
}

/// Counts one packet of `up` (extensions stripped) toward its layer's rate and size, and
/// writes it, rewritten, to every connected subscriber of the track. Returns the layers some
/// subscriber waits for a keyframe of, and whether a layer's size changed.
pub(super) fn fan_out(
    fan: &mut Fan<'_>,
    up: &mut UpTrack,
    track: &TrackSid,
    packet: rtc::rtp::Packet,
    keyframe: bool,
    now: Instant,
) -> (Vec<u32>, bool) {
    let padding_only = packet.payload.is_empty();
    let ssrc = packet.header.ssrc;
    let mut layers_changed = false;
    if let Some(layer) = up.layers.iter_mut().find(|l| l.ssrc == ssrc) {
        layer.bytes += packet.payload.len() as u64;
        if keyframe && up.video_codec == Some(VideoCodec::Vp8) {
            let size = crate::codec::vp8_keyframe_size(&packet.payload);
            layers_changed = size.is_some() && layer.size != size;
            if layers_changed {
                layer.size = size;
            }
        }
    }
    // Layers some subscriber waits for a keyframe of (at most a few; no allocation if none).
    let mut wanted: Vec<u32> = Vec::new();
    for subscriber in &up.subscribers {
        let Some(peer) = fan.peers.get_mut(subscriber) else {
            continue;
        };
        if !peer.connected {
            continue;
        }
        let Some(down) = peer.down.get_mut(track) else {
            continue;
        };
        if let Some(waiting) = down.layer.waiting_for() {
            if !wanted.contains(&waiting) {
                wanted.push(waiting);
            }
        }
        if padding_only {
            if down.layer.current() == Some(ssrc) {
                down.forwarder.skip(packet.header.sequence_number);
            }
            continue;
        }
        if down.layer.waiting_for().is_some() && down.waiting_since.is_none() {
            down.waiting_since = Some(now);
        }
        let had_layer = down.layer.current().is_some() || down.cut;
        let mut restarted = false;
        // Audio can start anywhere; video only at a keyframe.
        match down
            .layer
            .on_packet(ssrc, keyframe || up.video_codec.is_none())
        {
            LayerAction::Drop => continue,
            LayerAction::Switch => {
                down.switch_source();
                down.cut = false;
                restarted = up.video_codec.is_some();
                if let Some(since) = down.waiting_since.take() {
                    fan.stats
                        .keyframe_wait_seconds
                        .observe(now.saturating_duration_since(since).as_secs_f64());
                }
                if had_layer {
                    SfuStats::add(&fan.stats.layer_switches, 1);
                }
            }
            LayerAction::Forward => {}
        }
        let mut out = packet.clone();
        match down.forwarder.rewrite(&mut out.header, keyframe, now) {
            Decision::Forward => {
                if let (true, Some(estimate)) = (restarted, &peer.estimate) {
                    estimate.restarted(out.header.ssrc, out.header.sequence_number);
                }
                if let Some(vp8) = &mut down.vp8 {
                    if let Some(rewritten) = vp8.rewrite(&out.payload) {
                        out.payload = rewritten.into();
                    }
                }
                let size = out.header.marshal_size() + out.payload.len();
                if let Some(mut sender) = peer.pc.rtp_sender(down.sender_id) {
                    match sender.write_rtp(now, out) {
                        Ok(()) => {
                            SfuStats::add(&fan.stats.forwarded_packets, 1);
                            SfuStats::add(&fan.stats.forwarded_bytes, size as u64);
                            fan.dirty.insert(*subscriber);
                        }
                        Err(err) => {
                            tracing::debug!(%err, track = %track, "subscriber leg refused a packet");
                        }
                    }
                }
            }
            Decision::WaitingForKeyframe => {
                if !wanted.contains(&ssrc) {
                    wanted.push(ssrc);
                }
            }
            Decision::NotNegotiated | Decision::BeforeStart => {}
        }
    }
    (wanted, layers_changed)
}
