//! Fitting what each subscriber receives into its downlink: layer bitrates measured every
//! tick, each subscriber's estimate shared across its video (`allocation.rs`), congestion
//! events acted on as soon as feedback shows them, dynacast, and silent peers expired.

use super::{
    Allocation, Peer, PeerId, PeerState, SfuCore, SfuEvent, UpTrack, ALLOCATION_TICK,
    DYNACAST_PAUSE_AFTER, PEER_TIMEOUT, PUBLISHER_SILENCE_TIMEOUT,
};
use crate::allocation::{
    allocate, downlink_budget, DownlinkReading, Offer, VideoDemand, NOMINAL_LAYER_BPS,
};
use crate::ids::{ParticipantSid, TrackSid};
use crate::layers::{ranked, wanted_rank};
use crate::speaker::SpeakerDetector;
use crate::stats::SfuStats;
use std::collections::HashMap;
use std::time::Instant;

impl SfuCore {
    /// Declares connections that have sent nothing for [`PEER_TIMEOUT`] failed (browsers send
    /// RTCP every second or so and consent checks every few seconds), publishers that carried
    /// media after [`PUBLISHER_SILENCE_TIMEOUT`]; removes participants with a connection that
    /// never connected within the connect timeout (nothing else would ever free it).
    pub(super) fn expire_silent_peers(&mut self, now: Instant) {
        let mut failed = Vec::new();
        let mut never_connected = std::collections::BTreeSet::new();
        for peer in self.peers.values_mut() {
            let silence = now.saturating_duration_since(peer.last_received);
            let timeout = if peer.media_seen && peer.role.publishes() {
                PUBLISHER_SILENCE_TIMEOUT
            } else {
                PEER_TIMEOUT
            };
            if peer.connected && silence > timeout {
                peer.connected = false;
                failed.push((peer.owner.clone(), peer.role));
            }
            let age = now.saturating_duration_since(peer.created);
            if !peer.ever_connected && age > self.config.connect_timeout {
                never_connected.insert(peer.owner.clone());
            }
        }
        for owner in never_connected {
            tracing::info!(participant = %owner, "peer connection never connected: removed");
            SfuStats::add(&self.stats.connect_timeouts, 1);
            self.remove(now, &owner, "connect_timeout");
        }
        for (owner, role) in failed {
            tracing::info!(participant = %owner, ?role, "peer connection silent: failed");
            self.emit(
                &owner,
                SfuEvent::PeerState {
                    role,
                    state: PeerState::Failed,
                },
            );
        }
    }

    /// A subscriber's feedback just showed congestion: re-allocate its downlink now rather
    /// than at the next tick, since every packet sent meanwhile is queued or lost.
    pub(super) fn react_to_congestion(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(estimate) = &peer.estimate else {
            return;
        };
        let events = estimate.congestion_events();
        if events == peer.congestion_events_seen {
            return;
        }
        peer.congestion_events_seen = events;
        let delivered = estimate.delivered_bps();
        SfuStats::add(&self.stats.congestion_events, 1);
        let speakers = loudest_speakers(&self.speakers);
        let retarget = allocate_peer(peer, &self.up_tracks, &speakers, now, Some(delivered));
        tracing::debug!(participant = %peer.owner, delivered_bps = ?delivered, estimate_bps = peer.last_estimate, "downlink congestion");
        self.keyframe_wanted.extend(retarget);
    }

    /// A subscriber asked for other layers: share its downlink again now, so a request the
    /// estimate pays for is applied at once instead of at the next tick.
    pub(super) fn reallocate_subscriber(&mut self, now: Instant, id: PeerId) {
        let speakers = loudest_speakers(&self.speakers);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.estimate.is_none() || self.last_allocation.is_none() {
            return;
        }
        // Whether the estimate is falling is judged tick to tick; a request between ticks must
        // not shorten that interval (a slow fall would go unnoticed).
        let previous = peer.last_estimate;
        let retarget = allocate_peer(peer, &self.up_tracks, &speakers, now, None);
        peer.last_estimate = previous;
        self.keyframe_wanted.extend(retarget);
    }

    /// Measures layer bitrates, then shares each subscriber's downlink estimate across the
    /// video it receives (see `allocation.rs`).
    pub(super) fn allocate_bandwidth(&mut self, now: Instant) {
        self.expire_silent_peers(now);
        let elapsed = self
            .last_allocation
            .map_or(ALLOCATION_TICK, |at| now.saturating_duration_since(at));
        self.last_allocation = Some(now);
        let millis = elapsed.as_millis().max(1) as u64;
        for up in self.up_tracks.values_mut() {
            for layer in &mut up.layers {
                layer.rate_bps = std::mem::take(&mut layer.bytes) * 8 * 1000 / millis;
            }
        }
        let speakers = loudest_speakers(&self.speakers);
        let mut retarget: Vec<(TrackSid, u32)> = Vec::new();
        for peer in self.peers.values_mut() {
            let Some(estimate) = peer.estimate.as_ref().map(|e| e.bits_per_second()) else {
                continue;
            };
            if peer.connected {
                self.stats.downlink_estimate_bps.observe(estimate as f64);
            }
            retarget.extend(allocate_peer(peer, &self.up_tracks, &speakers, now, None));
        }
        self.keyframe_wanted.extend(retarget);
        self.update_dynacast(now);
    }

    /// Tells publishers which simulcast layers anyone needs: a layer that is no subscriber's
    /// current or target layer for a while is paused; one that is needed again resumes at once.
    /// The smallest layer always stays on, so a new subscriber has something to start with.
    pub(super) fn update_dynacast(&mut self, now: Instant) {
        let mut changes = Vec::new();
        for (sid, up) in &mut self.up_tracks {
            // A relayed track's own shard decides (`send_demand` tells it what is needed here).
            if up.layers.len() < 2
                || up.layers.iter().any(|l| l.rid.is_none())
                || up.origin.relayed_from().is_some()
            {
                continue;
            }
            let mut needed: Vec<u32> = up.remote_demand.values().flatten().copied().collect();
            for subscriber in &up.subscribers {
                if let Some(down) = self.peers.get(subscriber).and_then(|p| p.down.get(sid)) {
                    needed.extend(down.layer.current());
                    needed.extend(down.layer.waiting_for());
                }
            }
            let order = ranked(&up.layers);
            let lowest = order.first().map(|&i| up.layers[i].ssrc);
            let mut changed = false;
            for layer in &mut up.layers {
                if needed.contains(&layer.ssrc) || Some(layer.ssrc) == lowest {
                    layer.unneeded_since = None;
                    changed |= !layer.active;
                    layer.active = true;
                } else {
                    let since = *layer.unneeded_since.get_or_insert(now);
                    if layer.active && now.saturating_duration_since(since) >= DYNACAST_PAUSE_AFTER
                    {
                        layer.active = false;
                        changed = true;
                    }
                }
            }
            if changed {
                let active_rids = up
                    .layers
                    .iter()
                    .filter(|l| l.active)
                    .filter_map(|l| l.rid.clone())
                    .collect();
                changes.push((
                    up.owner.clone(),
                    SfuEvent::PublisherLayers {
                        track: sid.clone(),
                        track_id: up.remote_track_id.clone(),
                        active_rids,
                    },
                ));
            }
        }
        self.send_demand();
        for (owner, event) in changes {
            SfuStats::add(&self.stats.dynacast_changes, 1);
            tracing::debug!(participant = %owner, ?event, "dynacast");
            self.emit(&owner, event);
        }
    }
}

/// How long a congestion event's delivered rate caps climbs (see `DownlinkReading`): long
/// enough that a subscriber who just fell to the smallest layer is not probed straight back
/// into a freeze, short enough that a recovered link is climbed again within seconds.
const CLIMB_CEILING_FOR: std::time::Duration = std::time::Duration::from_secs(6);

/// The loudest participant of each room.
fn loudest_speakers(
    detectors: &HashMap<String, SpeakerDetector<ParticipantSid>>,
) -> HashMap<&str, &ParticipantSid> {
    detectors
        .iter()
        .filter_map(|(room, d)| d.loudest().map(|sid| (room.as_str(), sid)))
        .collect()
}

/// Shares one subscriber's downlink across the video it receives (see `allocation.rs`), and
/// retargets its down tracks. `congestion`: a congestion event prompted this, with the arrival
/// rate its feedback showed. Returns the layers whose keyframes are now wanted.
fn allocate_peer(
    peer: &mut Peer,
    up_tracks: &HashMap<TrackSid, UpTrack>,
    speakers: &HashMap<&str, &ParticipantSid>,
    now: Instant,
    congestion: Option<Option<u64>>,
) -> Vec<(TrackSid, u32)> {
    let mut retarget = Vec::new();
    let Some(estimate) = peer.estimate.as_ref().map(|e| e.bits_per_second()) else {
        return retarget;
    };
    if peer.down.is_empty() {
        return retarget;
    }
    let mut audio_bps = 0;
    let mut sent_bps = 0;
    let mut videos: Vec<(&TrackSid, VideoDemand)> = Vec::new();
    for (track, down) in &peer.down {
        let Some(up) = up_tracks.get(track) else {
            continue;
        };
        // After a cut nothing flows until the target's keyframe; the target is what will.
        let sending = down.layer.current().or(down.layer.waiting_for());
        let sending_rate = up
            .layers
            .iter()
            .find(|l| Some(l.ssrc) == sending)
            .map_or(0, |l| l.rate_bps);
        sent_bps += sending_rate;
        if up.video_codec.is_none() {
            audio_bps += sending_rate;
            continue;
        }
        let layer_bps = ranked(&up.layers)
            .into_iter()
            .enumerate()
            .map(|(rank, i)| match up.layers[i].rate_bps {
                0 => NOMINAL_LAYER_BPS[rank.min(NOMINAL_LAYER_BPS.len() - 1)],
                measured => measured,
            })
            .collect();
        let speaking = speakers.get(up.room.as_str()) == Some(&&up.owner);
        videos.push((
            track,
            VideoDemand {
                priority: if speaking { 0 } else { 1 },
                layer_bps,
                wanted_rank: wanted_rank(&up.layers, down.limit),
            },
        ));
    }
    let previous = std::mem::replace(&mut peer.last_estimate, estimate);
    if let Some(Some(delivered)) = congestion {
        peer.climb_ceiling = Some((delivered, now + CLIMB_CEILING_FOR));
    }
    let ceiling_bps = peer
        .climb_ceiling
        .filter(|(_, until)| now < *until)
        .map(|(bps, _)| bps);
    let budget = downlink_budget(DownlinkReading {
        estimate_bps: estimate,
        previous_estimate_bps: previous,
        sent_bps,
        congestion,
        ceiling_bps,
    });
    let demands: Vec<VideoDemand> = videos.iter().map(|(_, d)| d.clone()).collect();
    let ranks = allocate(budget.bps, audio_bps, &demands);
    // What the estimate itself pays for (no probing room): a request up to that applies at once.
    let estimate_bps = ceiling_bps.map_or(estimate, |ceiling| estimate.min(ceiling));
    let affordable = allocate(budget.bps.min(estimate_bps), audio_bps, &demands);
    let tracks: Vec<TrackSid> = videos.into_iter().map(|(t, _)| t.clone()).collect();
    for (i, (track, rank)) in tracks.into_iter().zip(ranks).enumerate() {
        let Some(down) = peer.down.get_mut(&track) else {
            continue;
        };
        let offer = Offer {
            rank,
            wanted: demands[i].wanted_rank,
            affordable: affordable[i],
        };
        let applied = down.hold.update(offer, now);
        down.allocation = match applied {
            Some(rank) => Allocation::Capped(rank),
            None => Allocation::Paused,
        };
        let Some(up) = up_tracks.get(&track) else {
            continue;
        };
        let before = down.layer.waiting_for();
        let current_rank = down.layer.current().and_then(|ssrc| {
            ranked(&up.layers)
                .iter()
                .position(|&i| up.layers[i].ssrc == ssrc)
        });
        down.layer.set_target(down.target(&up.layers));
        let lowering = matches!((current_rank, applied), (Some(c), Some(a)) if a < c);
        if budget.cut && lowering && down.layer.cut() {
            down.cut = true;
        }
        if let Some(ssrc) = down.layer.waiting_for().filter(|w| Some(*w) != before) {
            retarget.push((track.clone(), ssrc));
        }
    }
    retarget
}
