//! Layer choice on request (a subscriber's `update_subscription`, new layers appearing) and
//! the keyframe requests that let a subscriber switch: at most one per layer per interval.

use super::{SfuCore, TrackOrigin};
use crate::error::SfuError;
use crate::ids::{ParticipantSid, PeerRole, TrackSid};
use crate::layers::LayerLimit;
use crate::stats::SfuStats;
use std::time::Instant;

impl SfuCore {
    /// Asks publishers for keyframes, at most once per layer per configured interval.
    pub(super) fn send_keyframe_requests(&mut self, now: Instant) {
        let interval = self.config.keyframe_request_interval;
        for (track, ssrc) in std::mem::take(&mut self.keyframe_wanted) {
            let Some(up) = self.up_tracks.get_mut(&track) else {
                continue;
            };
            if up.video_codec.is_none() {
                continue;
            }
            let Some(layer) = up.layers.iter_mut().find(|l| l.ssrc == ssrc) else {
                continue;
            };
            if layer
                .last_keyframe_request
                .is_some_and(|at| now.duration_since(at) < interval)
            {
                continue;
            }
            let (publisher, receiver_id) = match up.origin {
                TrackOrigin::Local {
                    publisher,
                    receiver_id,
                } => (publisher, receiver_id),
                TrackOrigin::Relayed(origin) => {
                    // Its shard asks the publisher (and throttles too).
                    layer.last_keyframe_request = Some(now);
                    self.shards
                        .send(origin, super::relay::Relayed::Keyframe { track, ssrc });
                    continue;
                }
            };
            let Some(peer) = self.peers.get_mut(&publisher) else {
                continue;
            };
            let Some(mut receiver) = peer.pc.rtp_receiver(receiver_id) else {
                continue;
            };
            let pli =
                rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: ssrc,
                };
            if receiver.write_rtcp(now, vec![Box::new(pli)]).is_ok() {
                layer.last_keyframe_request = Some(now);
                SfuStats::add(&self.stats.keyframe_requests, 1);
                self.dirty.insert(publisher);
            }
        }
    }

    /// Re-targets every subscriber of `track` after its layers or their limits changed.
    pub(super) fn reselect_layers(&mut self, track: &TrackSid) {
        let Some(up) = self.up_tracks.get(track) else {
            return;
        };
        for subscriber in &up.subscribers {
            if let Some(down) = self
                .peers
                .get_mut(subscriber)
                .and_then(|p| p.down.get_mut(track))
            {
                down.layer.set_target(down.target(&up.layers));
                if let Some(ssrc) = down.layer.waiting_for() {
                    self.keyframe_wanted.insert((track.clone(), ssrc));
                }
            }
        }
    }

    /// What a subscriber wants of one track: paused, a layer cap, or its rendered size.
    pub(super) fn set_layer_limit(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        track: &TrackSid,
        limit: LayerLimit,
    ) -> Result<(), SfuError> {
        let id = self
            .peer_of(sid, PeerRole::Subscriber)
            .map_err(|_| SfuError::UnknownTrack)?;
        let down = self
            .peers
            .get_mut(&id)
            .and_then(|p| p.down.get_mut(track))
            .ok_or(SfuError::UnknownTrack)?;
        down.limit = limit;
        self.reallocate_subscriber(now, id);
        self.reselect_layers(track);
        Ok(())
    }
}
