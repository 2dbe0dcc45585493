//! A room spread over several workers (`node::Placement` opens it on another worker once one
//! holds `spread_at` of its participants): each worker's core holds a *shard* of the room, its
//! own participants and their connections, and learns everything else from the room's other
//! shards through [`Relayed`] messages, which the driver carries between workers
//! (`poll_relay` out, `input::Relay` in). Every shard tells every other one of its own changes
//! (a full mesh; a room has at most one shard per worker):
//!
//! - who joined and left, which tracks they publish, mute and unpublish: the other shards keep
//!   them in their `Rooms` table as *remote* members (listed, announced to their own
//!   participants, never given connections) and remote tracks;
//! - every packet of its own tracks, after the checks and the extension strip forwarding does
//!   once (with the audio level read from it): the other shards fan it out to their own
//!   subscribers exactly as a packet from a local publisher, rewriting headers per subscriber,
//!   so layer switches, repairs (each subscriber connection's NACK history) and congestion
//!   control stay per shard;
//! - back to a track's shard: keyframe requests and which layers its subscribers need
//!   (dynacast demand).
//!
//! A shard opening introduces itself (`Hello`); each shard answers with its own members and
//! tracks. One closing (its last participant left) says `Bye`, and the others forget its
//! members. Messages between two workers keep their order (one queue per worker), so a track
//! is never announced before its owner.

use super::{SfuCore, SfuEvent, TrackOrigin, UpTrack};
use crate::codec::VideoCodec;
use crate::ids::{ParticipantSid, TrackSid};
use crate::layers::Layer;
use crate::node::WorkerIndex;
use crate::rooms::{ParticipantMeta, TrackMeta};
use crate::stats::SfuStats;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

/// What one shard of a room tells another.
#[derive(Debug, Clone)]
pub enum Relayed {
    /// The sender opened `room`: it wants the room's members and tracks as this shard has them.
    Hello {
        room: String,
    },
    /// The sender's last participant in `room` left: forget its members there.
    Bye {
        room: String,
    },
    Joined {
        room: String,
        meta: ParticipantMeta,
    },
    Left {
        sid: ParticipantSid,
    },
    Published {
        track: TrackMeta,
        codec: RTCRtpCodec,
        /// Each simulcast encoding's RID (none for a plain track) and SSRC.
        layers: Vec<(Option<String>, u32)>,
    },
    /// A published track's encodings changed (another simulcast layer opened).
    Layers {
        track: TrackSid,
        layers: Vec<(Option<String>, u32)>,
    },
    Unpublished {
        track: TrackSid,
    },
    /// The owner muted or unmuted its track.
    Muted {
        track: TrackSid,
        muted: bool,
    },
    /// One packet of the sender's track, extensions stripped; `level` is its RFC 6464 audio
    /// level (for speaker detection), `keyframe` whether it starts a keyframe.
    Media {
        track: TrackSid,
        packet: rtc::rtp::Packet,
        level: Option<u8>,
        keyframe: bool,
    },
    /// To a track's shard: a subscriber elsewhere needs a keyframe of this layer.
    Keyframe {
        track: TrackSid,
        ssrc: u32,
    },
    /// To a track's shard: the layers the sender's subscribers receive or wait for.
    Demand {
        track: TrackSid,
        ssrcs: Vec<u32>,
    },
}

impl Relayed {
    /// Media may be lost on a full queue (repairs and keyframes recover it, as on a network);
    /// nothing else may be.
    pub fn is_media(&self) -> bool {
        matches!(self, Relayed::Media { .. })
    }
}

/// A core's view of the rooms it shares with other workers.
#[derive(Debug, Default)]
pub(super) struct Shards {
    /// Rooms held on other workers too, with those workers.
    rooms: HashMap<String, BTreeSet<WorkerIndex>>,
    /// Members of those rooms on other workers, with their worker.
    remote: HashMap<ParticipantSid, WorkerIndex>,
    /// The demand last sent for each remote track.
    demand_sent: HashMap<TrackSid, Vec<u32>>,
    out: VecDeque<(WorkerIndex, Relayed)>,
}

impl Shards {
    pub(super) fn is_remote(&self, sid: &ParticipantSid) -> bool {
        !self.remote.is_empty() && self.remote.contains_key(sid)
    }

    pub(super) fn remote_count(&self) -> usize {
        self.remote.len()
    }

    /// The other workers holding `room` (none for a room on one worker).
    pub(super) fn of(&self, room: &str) -> Option<&BTreeSet<WorkerIndex>> {
        if self.rooms.is_empty() {
            return None;
        }
        self.rooms.get(room)
    }

    /// Rooms this core counts in the node's gauges although other workers hold them too: only
    /// the lowest-numbered worker of a spread room counts it.
    pub(super) fn counted_elsewhere(&self, me: WorkerIndex, held: impl Fn(&str) -> bool) -> usize {
        self.rooms
            .iter()
            .filter(|(room, w)| w.first().is_some_and(|&w| w < me) && held(room))
            .count()
    }

    pub(super) fn send(&mut self, to: WorkerIndex, message: Relayed) {
        self.out.push_back((to, message));
    }

    /// Sends `message` to every other worker holding `room`.
    fn broadcast(&mut self, room: &str, message: impl Fn() -> Relayed) {
        if self.rooms.is_empty() {
            return;
        }
        let Some(workers) = self.rooms.get(room) else {
            return;
        };
        for &w in workers {
            self.out.push_back((w, message()));
        }
    }
}

impl SfuCore {
    /// A message for another worker (`input::Relay` there), in order.
    pub fn poll_relay(&mut self) -> Option<(WorkerIndex, Relayed)> {
        self.shards.out.pop_front()
    }

    /// The room opens on this worker while `others` hold it too (`input::OpenShard`).
    pub(super) fn open_shard(&mut self, room: &str, others: &[WorkerIndex]) {
        let others: Vec<WorkerIndex> = others
            .iter()
            .copied()
            .filter(|&w| w != self.worker)
            .collect();
        if others.is_empty() {
            return;
        }
        let known = self.shards.rooms.entry(room.to_owned()).or_default();
        let new: Vec<WorkerIndex> = others.into_iter().filter(|w| known.insert(*w)).collect();
        for w in new {
            self.shards.send(
                w,
                Relayed::Hello {
                    room: room.to_owned(),
                },
            );
        }
    }

    /// A local participant joined `room` (or a viewer): the other shards learn of them.
    pub(super) fn relay_joined(&mut self, sid: &ParticipantSid) {
        let (Some(room), Some(meta)) = (self.rooms.room_name(sid), self.rooms.participant(sid))
        else {
            return;
        };
        if self.shards.of(room).is_none() {
            return;
        }
        let (room, meta) = (room.to_owned(), meta.clone());
        self.shards.broadcast(&room, || Relayed::Joined {
            room: room.clone(),
            meta: meta.clone(),
        });
    }

    /// A local participant left `room`: the other shards forget them; the room's last local
    /// participant closes this shard.
    pub(super) fn relay_left(&mut self, now: Instant, room: &str, sid: &ParticipantSid) {
        if self.shards.of(room).is_none() {
            return;
        }
        self.shards
            .broadcast(room, || Relayed::Left { sid: sid.clone() });
        if !self.has_local_member(room) {
            self.close_shard(now, room);
        }
    }

    fn has_local_member(&self, room: &str) -> bool {
        self.rooms
            .members(room)
            .iter()
            .any(|m| !self.shards.is_remote(m))
    }

    /// Nobody of `room` is on this worker any more: the others are told, and its remote
    /// members and tracks are forgotten (nobody here needs telling).
    fn close_shard(&mut self, now: Instant, room: &str) {
        self.shards.broadcast(room, || Relayed::Bye {
            room: room.to_owned(),
        });
        self.shards.rooms.remove(room);
        for member in self.rooms.members(room) {
            self.forget_remote(now, &member);
        }
    }

    /// A local track was published, or its layers changed: the other shards learn of it.
    pub(super) fn relay_track(&mut self, track: &TrackSid, first: bool) {
        let Some(up) = self.up_tracks.get(track) else {
            return;
        };
        if self.shards.of(&up.room).is_none() || up.origin.relayed_from().is_some() {
            return;
        }
        let layers: Vec<(Option<String>, u32)> =
            up.layers.iter().map(|l| (l.rid.clone(), l.ssrc)).collect();
        let room = up.room.clone();
        if !first {
            self.shards.broadcast(&room, || Relayed::Layers {
                track: track.clone(),
                layers: layers.clone(),
            });
            return;
        }
        let (Some(meta), codec) = (self.rooms.track(track).cloned(), up.codec.clone()) else {
            return;
        };
        self.shards.broadcast(&room, || Relayed::Published {
            track: meta.clone(),
            codec: codec.clone(),
            layers: layers.clone(),
        });
    }

    /// A local track's owner changed something the other shards must hear of.
    pub(super) fn relay_track_change(&mut self, room: &str, message: impl Fn() -> Relayed) {
        if self.shards.of(room).is_some() {
            self.shards.broadcast(room, message);
        }
    }

    /// One packet of a local track to the other shards of its room.
    pub(super) fn relay_media(
        shards: &mut Shards,
        up: &UpTrack,
        track: &TrackSid,
        packet: &rtc::rtp::Packet,
        level: Option<u8>,
        keyframe: bool,
    ) {
        // Per packet: no list of workers is built (a room on one worker costs one check).
        shards.broadcast(&up.room, || Relayed::Media {
            track: track.clone(),
            packet: packet.clone(),
            level,
            keyframe,
        });
    }

    /// A message from worker `from` (`input::Relay`).
    pub(super) fn on_relayed(&mut self, now: Instant, from: WorkerIndex, message: Relayed) {
        match message {
            Relayed::Hello { room } => self.hello(from, &room),
            Relayed::Bye { room } => {
                if let Some(workers) = self.shards.rooms.get_mut(&room) {
                    workers.remove(&from);
                    if workers.is_empty() {
                        self.shards.rooms.remove(&room);
                    }
                }
                let gone: Vec<ParticipantSid> = self
                    .rooms
                    .members(&room)
                    .into_iter()
                    .filter(|m| self.shards.remote.get(m) == Some(&from))
                    .collect();
                for sid in gone {
                    self.forget_remote(now, &sid);
                }
                for up in self.up_tracks.values_mut() {
                    up.remote_demand.remove(&from);
                }
            }
            Relayed::Joined { room, meta } => self.remote_joined(now, from, &room, meta),
            Relayed::Left { sid } => {
                if self.shards.is_remote(&sid) {
                    self.forget_remote(now, &sid);
                }
            }
            Relayed::Published {
                track,
                codec,
                layers,
            } => self.remote_published(now, from, track, codec, layers),
            Relayed::Layers { track, layers } => {
                if let Some(up) = self.up_tracks.get_mut(&track) {
                    for (rid, ssrc) in layers {
                        if !up.layers.iter().any(|l| l.ssrc == ssrc) {
                            up.layers.push(Layer::new(rid, ssrc));
                        }
                    }
                    self.reselect_layers(&track);
                }
            }
            Relayed::Unpublished { track } => {
                if self
                    .up_tracks
                    .get(&track)
                    .is_some_and(|up| up.origin.relayed_from() == Some(from))
                {
                    if let Some((meta, audience)) = self.rooms.unpublish(&track) {
                        self.end_up_track(now, &track, &audience, &meta.owner);
                    }
                }
            }
            Relayed::Muted { track, muted } => {
                let owner = self.rooms.track(&track).map(|t| t.owner.clone());
                if let Some(owner) = owner.filter(|o| self.shards.is_remote(o)) {
                    if let Err(err) = self.set_track_muted(&owner, &track, muted) {
                        tracing::debug!(%err, "relayed mute of an unknown track");
                    }
                }
            }
            Relayed::Media {
                track,
                packet,
                level,
                keyframe,
            } => self.relayed_media(now, &track, packet, level, keyframe),
            Relayed::Keyframe { track, ssrc } => {
                if self
                    .up_tracks
                    .get(&track)
                    .is_some_and(|up| up.origin.relayed_from().is_none())
                {
                    self.keyframe_wanted.insert((track, ssrc));
                }
            }
            Relayed::Demand { track, ssrcs } => {
                if let Some(up) = self.up_tracks.get_mut(&track) {
                    up.remote_demand.insert(from, ssrcs);
                }
            }
        }
    }

    /// Worker `from` opened a room: it is told what this shard holds of it.
    fn hello(&mut self, from: WorkerIndex, room: &str) {
        self.shards
            .rooms
            .entry(room.to_owned())
            .or_default()
            .insert(from);
        let members: Vec<ParticipantMeta> = self
            .rooms
            .members(room)
            .iter()
            .filter(|m| !self.shards.is_remote(m))
            .filter_map(|m| self.rooms.participant(m).cloned())
            .collect();
        for meta in members {
            let sid = meta.sid.clone();
            self.shards.send(
                from,
                Relayed::Joined {
                    room: room.to_owned(),
                    meta,
                },
            );
            for track in self.rooms.tracks_of_owner(&sid) {
                let Some(up) = self.up_tracks.get(&track.sid) else {
                    continue;
                };
                let layers = up.layers.iter().map(|l| (l.rid.clone(), l.ssrc)).collect();
                let message = Relayed::Published {
                    codec: up.codec.clone(),
                    track,
                    layers,
                };
                self.shards.send(from, message);
            }
        }
    }

    fn remote_joined(
        &mut self,
        now: Instant,
        from: WorkerIndex,
        room: &str,
        meta: ParticipantMeta,
    ) {
        // A room this shard closed (a late message) is not reopened by it.
        if !self
            .shards
            .rooms
            .get(room)
            .is_some_and(|w| w.contains(&from))
        {
            return;
        }
        // Nobody here (the join that opened the shard failed): the others stop relaying.
        // Answers to a `Hello` come after the join it preceded (one job), so this is never
        // too early.
        if !self.has_local_member(room) {
            self.close_shard(now, room);
            return;
        }
        let sid = meta.sid.clone();
        let hidden = meta.hidden;
        let others = match self.rooms.join(room, meta) {
            Ok(others) => others,
            Err(err) => {
                tracing::debug!(%err, participant = %sid, "relayed join refused");
                return;
            }
        };
        self.shards.remote.insert(sid.clone(), from);
        if let Some(snapshot) = self.rooms.snapshot(&sid) {
            for other in &others {
                let event = if hidden {
                    SfuEvent::ViewerJoined(snapshot.clone())
                } else {
                    SfuEvent::ParticipantJoined(snapshot.clone())
                };
                self.emit(&other.meta.sid, event);
            }
        }
    }

    fn remote_published(
        &mut self,
        now: Instant,
        from: WorkerIndex,
        meta: TrackMeta,
        codec: RTCRtpCodec,
        layers: Vec<(Option<String>, u32)>,
    ) {
        if self.shards.remote.get(&meta.owner) != Some(&from) {
            return;
        }
        let audience = match self.rooms.publish(meta.clone()) {
            Ok(audience) => audience,
            Err(err) => {
                tracing::debug!(%err, track = %meta.sid, "relayed track refused");
                return;
            }
        };
        let room = self
            .rooms
            .room_name(&meta.owner)
            .unwrap_or_default()
            .to_owned();
        self.up_tracks.insert(
            meta.sid.clone(),
            UpTrack {
                owner: meta.owner.clone(),
                remote_track_id: String::new(),
                room,
                audio_level_ext: None,
                origin: TrackOrigin::Relayed(from),
                layers: layers
                    .into_iter()
                    .map(|(rid, ssrc)| Layer::new(rid, ssrc))
                    .collect(),
                video_codec: VideoCodec::from_mime(&codec.mime_type),
                codec,
                subscribers: Vec::new(),
                force_muted: false,
                remote_demand: HashMap::new(),
            },
        );
        for participant in self.rooms.others(&meta.owner) {
            self.emit(&participant, SfuEvent::TrackPublished(meta.clone()));
        }
        for subscriber in audience {
            self.add_down_track(now, &subscriber, &meta);
        }
    }

    /// A member of another shard is gone: its tracks end here and the room is told.
    fn forget_remote(&mut self, now: Instant, sid: &ParticipantSid) {
        if self.shards.remote.remove(sid).is_none() {
            return;
        }
        let hidden = self.rooms.participant(sid).is_some_and(|m| m.hidden);
        if let Some(departure) = self.rooms.leave(sid) {
            self.announce_departure(now, sid, hidden, departure);
        }
    }

    /// A packet of a remote track: fanned out to this shard's subscribers.
    fn relayed_media(
        &mut self,
        now: Instant,
        track: &TrackSid,
        packet: rtc::rtp::Packet,
        level: Option<u8>,
        keyframe: bool,
    ) {
        let Some(up) = self.up_tracks.get_mut(track) else {
            return;
        };
        if up.origin.relayed_from().is_none() || up.force_muted {
            return;
        }
        SfuStats::add(&self.stats.relayed_packets, 1);
        if let Some(level) = level {
            super::fan_out::observe_level(&mut self.speakers, &mut self.timers, up, level, now);
        }
        let (wanted, layers_changed) = super::fan_out::fan_out(
            &mut super::fan_out::Fan {
                peers: &mut self.peers,
                stats: &self.stats,
                dirty: &mut self.dirty,
            },
            up,
            track,
            packet,
            keyframe,
            now,
        );
        self.after_fan_out(track, wanted, layers_changed);
    }

    /// For each remote track: the layers this shard's subscribers need, sent to its shard when
    /// they changed (it decides what its publisher sends, `update_dynacast`).
    pub(super) fn send_demand(&mut self) {
        let mut changes = Vec::new();
        for (sid, up) in &self.up_tracks {
            let Some(origin) = up.origin.relayed_from() else {
                continue;
            };
            let mut needed: Vec<u32> = Vec::new();
            for subscriber in &up.subscribers {
                if let Some(down) = self.peers.get(subscriber).and_then(|p| p.down.get(sid)) {
                    needed.extend(down.layer.current());
                    needed.extend(down.layer.waiting_for());
                }
            }
            needed.sort_unstable();
            needed.dedup();
            if self.shards.demand_sent.get(sid) != Some(&needed) {
                changes.push((origin, sid.clone(), needed));
            }
        }
        for (origin, track, ssrcs) in changes {
            self.shards.demand_sent.insert(track.clone(), ssrcs.clone());
            self.shards.send(origin, Relayed::Demand { track, ssrcs });
        }
        let up_tracks = &self.up_tracks;
        self.shards
            .demand_sent
            .retain(|t, _| up_tracks.contains_key(t));
    }
}
