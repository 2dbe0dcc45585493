//! The Sans-I/O media core: every room, participant and peer connection of this node, driven
//! only by its inputs (a datagram, the clock, each request: `input.rs`), applied through
//! [`SfuCore::handle`] with time passed in. It produces datagrams to send (`poll_transmit`)
//! and events for signaling (`poll_event`), and says when it next wants the clock
//! (`poll_timeout`). No sockets, no clock, no tasks: `driver/` owns those; a node runs one
//! core per media worker, each with the rooms placed on it (`crate::node`).
//!
//! Layout: `input.rs` is the one door in (every input ends in one `finish`); this file routes
//! inputs to peer connections; `membership.rs` is who is in the rooms; `drain.rs` drains their
//! outputs; `transport.rs` counts connections as direct or relayed;
//! `publish.rs` handles the publisher leg (incoming tracks, forwarding); `subscribe.rs` the
//! subscriber leg (down tracks, server offers) and `down_track.rs` one forwarded track;
//! `selection.rs` layer requests and keyframe requests; `bandwidth.rs` fitting each
//! subscriber's layers into its downlink (allocation ticks, congestion events, dynacast);
//! `view.rs` WHEP viewers; `events.rs` what the core hands out.

mod bandwidth;
mod capacity;
mod down_track;
mod drain;
mod events;
mod fan_out;
pub mod input;
mod membership;
mod publish;
pub mod relay;
mod selection;
mod subscribe;
mod timers;
mod transport;
mod up_track;
mod view;

use down_track::{negotiated_payload_type, Allocation, DownTrack};
pub use events::{Candidate, CoreConfig, PeerState, SfuEvent, Transmit};
use timers::{Timer, TimerTable};
use up_track::{TrackOrigin, UpTrack};

use crate::error::SfuError;
use crate::flow::{Flow, Transport};
use crate::ids::{ParticipantSid, PeerId, PeerRole, TrackSid};
use crate::node::{Node, WorkerIndex};
use crate::peer::{build_peer, PeerSetup};
use crate::rooms::{ParticipantMeta, ParticipantSnapshot, Rooms, TrackSource};
use crate::speaker::SpeakerDetector;
use crate::stats::SfuStats;
use crate::stun;
use bytes::BytesMut;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::TaggedRTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::peer_connection::RTCPeerConnection;
use rtc::sansio::Protocol;
use rtc::shared::TaggedBytesMut;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Peer {
    pc: RTCPeerConnection,
    owner: ParticipantSid,
    role: PeerRole,
    /// ICE ufrags of the connection claimed on the node, newest last: the one of its local
    /// description, and up to [`MAX_UFRAGS`]` - 1` from before ICE restarts (an ICE-TCP
    /// connection bound to one stays open).
    ufrags: Vec<String>,
    connected: bool,
    /// Subscriber leg: the downlink estimate that caps its layers.
    estimate: Option<crate::peer::DownlinkEstimate>,
    /// The flow of the pair the browser nominated last, once the connection answered it:
    /// media goes there (the ICE agent would keep using the first nomination).
    path: Option<Flow>,
    /// A flow that carried a nomination not answered yet.
    nominating: Option<Flow>,
    /// The connection's validated flows in `by_addr`, oldest first, at most `MAX_FLOWS`.
    flows: VecDeque<Flow>,
    /// The client's TURN relay candidates (`transport.rs`): a path to one is relayed.
    relays: Vec<SocketAddr>,
    /// Last datagram from the client: liveness, since ICE timeouts are off.
    last_received: Instant,
    /// A STUN check failed MESSAGE-INTEGRITY already (logged once per connection: anyone who
    /// learns a ufrag could otherwise flood the log).
    integrity_failed: bool,
    /// When the connection was created, and whether it ever connected: one that never does
    /// is given up after `CoreConfig::connect_timeout`.
    created: Instant,
    ever_connected: bool,
    /// A publishing connection that has carried media: its silence is noticed sooner.
    media_seen: bool,
    /// The downlink estimate at the previous allocation, to see which way it moves.
    last_estimate: u64,
    /// Congestion events of `estimate` already reacted to.
    congestion_events_seen: u64,
    /// The delivered rate at the last congestion event, and until when it caps climbs.
    climb_ceiling: Option<(u64, Instant)>,
    // Subscriber leg only.
    down: HashMap<TrackSid, DownTrack>,
    /// Viewer (WHEP) slots with no source right now.
    idle: Vec<DownTrack>,
    awaiting_answer: bool,
    /// Tracks changed while an offer was outstanding: offer again after the answer.
    renegotiate_after_answer: bool,
    /// The client asked for an ICE restart: the next offer carries new credentials.
    restart_ice: bool,
}

/// How often speaker detection reports (only when the speaker list changed).
const SPEAKER_TICK: Duration = Duration::from_millis(400);
/// How often layer bitrates are measured and subscribers' bandwidth is shared out.
const ALLOCATION_TICK: Duration = Duration::from_millis(500);
/// A connection that has sent nothing for this long has failed (consent checks come every few
/// seconds, RTCP about every second).
const PEER_TIMEOUT: Duration = Duration::from_secs(20);
/// A publisher whose media stopped and that sent nothing else either (a crashed encoder, a
/// pulled cable) has failed after this: viewers are not left on a frozen picture for long.
const PUBLISHER_SILENCE_TIMEOUT: Duration = Duration::from_secs(8);
/// At most this many m-lines per offer and tracks per `publish` (a browser sends 2-3).
pub const MAX_MEDIA_SECTIONS: usize = 16;
/// A layer nobody needs for this long is paused at the publisher (dynacast).
const DYNACAST_PAUSE_AFTER: Duration = Duration::from_secs(3);

#[derive(Default)]
struct ParticipantPeers {
    publisher: Option<PeerId>,
    /// The screen-share publisher connection (see [`PeerRole::Screen`]).
    screen: Option<PeerId>,
    subscriber: Option<PeerId>,
    /// What the client said each track of each publishing connection is (by msid track id),
    /// as of that connection's last offer.
    sources: HashMap<PeerRole, HashMap<String, TrackSource>>,
    /// Set for WHEP viewers: whom they follow (an identity), if anyone.
    viewer: Option<ViewerPrefs>,
}

#[derive(Debug, Clone, Default)]
struct ViewerPrefs {
    follow: Option<String>,
}

pub struct SfuCore {
    config: CoreConfig,
    rooms: Rooms,
    /// Boxed: draining takes a peer out of the map and puts it back for every input, and an
    /// `RTCPeerConnection` is several kilobytes to move each time.
    peers: HashMap<PeerId, Box<Peer>>,
    next_peer: u64,
    by_ufrag: HashMap<String, PeerId>,
    /// Validated flows (a check over them was answered) → their connection.
    by_addr: HashMap<Flow, PeerId>,
    participants: HashMap<ParticipantSid, ParticipantPeers>,
    up_tracks: HashMap<TrackSid, UpTrack>,
    /// Publisher connection → its remote (msid) track ids → track.
    track_by_remote: HashMap<PeerId, HashMap<String, TrackSid>>,
    /// Connections with outputs to drain.
    dirty: BTreeSet<PeerId>,
    /// Subscriber connections whose track set changed during the current input.
    needs_offer: BTreeSet<PeerId>,
    /// Layers (track, SSRC) some subscriber needs a keyframe of.
    keyframe_wanted: BTreeSet<(TrackSid, u32)>,
    events: VecDeque<(ParticipantSid, SfuEvent)>,
    transmits: VecDeque<Transmit>,
    stats: Arc<SfuStats>,
    speakers: HashMap<String, SpeakerDetector<ParticipantSid>>,
    /// Speaker reports, bandwidth allocation, every connection's deadline.
    timers: TimerTable,
    /// When downlinks were last shared (layer rates are measured over the time since).
    last_allocation: Option<Instant>,
    /// What this core shares with the node's other workers, and which worker it is.
    node: Arc<Node>,
    worker: WorkerIndex,
    /// This core's share of the node-wide gauges (rooms, participants, tracks, connections),
    /// as last added to `stats`.
    gauges: [u64; 4],
    /// Participants that left since the driver last asked (`poll_departure`).
    departures: VecDeque<ParticipantSid>,
    /// This core's connected connections over UDP, over TCP and through a relay, as last
    /// counted.
    transport_gauges: [u64; 3],
    /// The rooms this core shares with other workers (`relay.rs`).
    shards: relay::Shards,
}

impl SfuCore {
    /// A core alone on its node (tests, benchmarks, a single worker).
    pub fn new(config: CoreConfig, stats: Arc<SfuStats>) -> Self {
        Self::on_node(config, stats, Arc::new(Node::default()), 0)
    }

    /// The core of media worker `worker` of `node`: its connections are entered in the node's
    /// demultiplexing table and count toward the node's limits.
    pub fn on_node(
        config: CoreConfig,
        stats: Arc<SfuStats>,
        node: Arc<Node>,
        worker: WorkerIndex,
    ) -> Self {
        Self {
            config,
            rooms: Rooms::default(),
            peers: HashMap::new(),
            next_peer: 1,
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            participants: HashMap::new(),
            up_tracks: HashMap::new(),
            track_by_remote: HashMap::new(),
            dirty: BTreeSet::new(),
            needs_offer: BTreeSet::new(),
            keyframe_wanted: BTreeSet::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            stats,
            speakers: HashMap::new(),
            timers: TimerTable::default(),
            last_allocation: None,
            node,
            worker,
            gauges: [0; 4],
            departures: VecDeque::new(),
            transport_gauges: [0; 3],
            shards: relay::Shards::default(),
        }
    }

    /// A participant that left (or was removed, or timed out) since the last call.
    pub fn poll_departure(&mut self) -> Option<ParticipantSid> {
        self.departures.pop_front()
    }

    pub fn stats(&self) -> &Arc<SfuStats> {
        &self.stats
    }

    /// Whether `sid` is in a room here (the driver drops the event queues of those who are not).
    pub fn has_participant(&self, sid: &ParticipantSid) -> bool {
        self.participants.contains_key(sid)
    }

    /// Trickled client candidate for one of the participant's connections
    /// (`input::AddIceCandidate`).
    fn add_ice_candidate(
        &mut self,
        sid: &ParticipantSid,
        role: PeerRole,
        candidate: Candidate,
    ) -> Result<(), SfuError> {
        let id = self.peer_of(sid, role)?;
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
        peer.note_relays(crate::candidate::relay_address(&candidate.candidate).into_iter());
        peer.pc
            .add_remote_candidate(RTCIceCandidateInit {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_mline_index: candidate.sdp_mline_index,
                username_fragment: candidate.username_fragment,
                ..Default::default()
            })
            .map_err(|e| SfuError::InvalidCandidate(e.to_string()))?;
        self.dirty.insert(id);
        Ok(())
    }

    /// A datagram (or ICE-TCP frame) over `flow` (`input::Datagram`).
    fn datagram(&mut self, now: Instant, flow: Flow, data: BytesMut) {
        let id = match stun::classify(&data) {
            stun::Route::BindingRequest { local_ufrag } => self.by_ufrag.get(local_ufrag).copied(),
            stun::Route::ByAddress => self.by_addr.get(&flow).copied(),
        };
        let Some(id) = id else {
            SfuStats::add(&self.stats.unroutable_datagrams, 1);
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.last_received = now;
        if stun::is_nomination(&data) {
            peer.nominating = Some(flow);
        }
        SfuStats::add(&self.stats.received_bytes, data.len() as u64);
        if let Err(err) = peer.pc.handle_read(TaggedBytesMut {
            now,
            transport: flow.context(),
            message: data,
        }) {
            if matches!(err, rtc::shared::error::Error::ErrIntegrityMismatch) {
                if !std::mem::replace(&mut peer.integrity_failed, true) {
                    tracing::warn!(participant = %peer.owner, role = ?peer.role, "a connectivity check failed MESSAGE-INTEGRITY (wrong ICE password); further failures of this connection are not logged");
                }
            } else {
                tracing::debug!(%err, "peer connection rejected a datagram");
            }
        }
        // One atomic load per datagram on the peer already at hand; the re-allocation runs
        // only when its feedback raised a congestion event.
        let congested = peer
            .estimate
            .as_ref()
            .is_some_and(|e| e.congestion_events() != peer.congestion_events_seen);
        if congested {
            self.react_to_congestion(now, id);
        }
        self.dirty.insert(id);
    }

    /// Flows (transport, local and client address) validated by an answered check and routed
    /// to a connection of this core, over all its connections (for tests and gauges).
    pub fn validated_flows(&self) -> usize {
        self.by_addr.len()
    }

    /// When the core next wants `input::Timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// Fires every timer due by `now` (`input::Timeout`).
    fn timeout(&mut self, now: Instant) {
        if self.timers.expired(Timer::Speakers, now) {
            self.report_speakers(now);
        }
        if self.timers.expired(Timer::Allocation, now) {
            self.count_transports();
            if self.peers.is_empty() {
                self.timers.stop(Timer::Allocation);
            } else {
                self.allocate_bandwidth(now);
                self.timers.set(Timer::Allocation, now + ALLOCATION_TICK);
            }
        }
        for id in self.timers.due_peers(now) {
            if let Some(peer) = self.peers.get_mut(&id) {
                if let Err(err) = peer.pc.handle_timeout(now) {
                    tracing::debug!(%err, "peer connection timeout handling failed");
                }
                self.dirty.insert(id);
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<(ParticipantSid, SfuEvent)> {
        self.events.pop_front()
    }

    fn emit(&mut self, to: &ParticipantSid, event: SfuEvent) {
        // Members of other workers' shards hear from their own worker.
        if self.shards.is_remote(to) {
            return;
        }
        self.events.push_back((to.clone(), event));
    }

    fn peer_of(&self, sid: &ParticipantSid, role: PeerRole) -> Result<PeerId, SfuError> {
        let peers = self.participants.get(sid).ok_or(SfuError::NotInRoom)?;
        match role {
            PeerRole::Publisher => peers.publisher,
            PeerRole::Screen => peers.screen,
            PeerRole::Subscriber => peers.subscriber,
        }
        .ok_or(SfuError::UnknownSession)
    }

    fn create_peer(
        &mut self,
        now: Instant,
        owner: &ParticipantSid,
        role: PeerRole,
    ) -> Result<PeerId, SfuError> {
        let room = self.rooms.room_name(owner).unwrap_or_default().to_owned();
        self.check_capacity(&room)?;
        // The ICE credentials are the connection's own (new ones at each ICE restart): its
        // ufrag is claimed on the node from each local description (`adopt_local_ufrag`).
        let (pc, estimate) = build_peer(
            &PeerSetup {
                candidates: &self.config.candidates,
                tcp_candidates: &self.config.tcp_candidates,
            },
            role == PeerRole::Subscriber,
            now,
        )
        .map_err(|e| SfuError::Internal(e.to_string()))?;
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        self.node.peer_opened();
        self.timers.start(Timer::Allocation, now);
        self.peers.insert(
            id,
            Box::new(Peer {
                pc,
                owner: owner.clone(),
                role,
                ufrags: Vec::new(),
                connected: false,
                estimate,
                path: None,
                nominating: None,
                flows: VecDeque::new(),
                relays: Vec::new(),
                last_received: now,
                integrity_failed: false,
                created: now,
                ever_connected: false,
                media_seen: false,
                last_estimate: 0,
                congestion_events_seen: 0,
                climb_ceiling: None,
                down: HashMap::new(),
                idle: Vec::new(),
                awaiting_answer: false,
                renegotiate_after_answer: false,
                restart_ice: false,
            }),
        );
        if let Some(peers) = self.participants.get_mut(owner) {
            match role {
                PeerRole::Publisher => peers.publisher = Some(id),
                PeerRole::Screen => peers.screen = Some(id),
                PeerRole::Subscriber => peers.subscriber = Some(id),
            }
        }
        self.dirty.insert(id);
        Ok(id)
    }

    /// Sends the connection's host candidates as trickle events (they are in the SDP too).
    fn announce_candidates(&mut self, owner: &ParticipantSid, role: PeerRole) {
        let udp = self.config.candidates.iter().map(|a| (Transport::Udp, a));
        let tcp = self
            .config
            .tcp_candidates
            .iter()
            .map(|a| (Transport::Tcp, a));
        let candidates: Vec<_> = udp
            .chain(tcp)
            .filter_map(|(transport, addr)| crate::peer::host_candidate(*addr, transport).ok())
            .collect();
        for init in candidates {
            self.emit(
                owner,
                SfuEvent::IceCandidate {
                    role,
                    candidate: Candidate {
                        candidate: init.candidate,
                        sdp_mid: Some("0".to_owned()),
                        sdp_mline_index: Some(0),
                        username_fragment: None,
                    },
                },
            );
        }
    }

    fn close_peer(&mut self, now: Instant, id: PeerId) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        if let Err(err) = peer.pc.close() {
            tracing::debug!(%err, "closing peer connection");
        }
        self.collect_writes(&mut peer);
        self.timers.set_peer(id, None);
        for ufrag in &peer.ufrags {
            self.by_ufrag.remove(ufrag);
            self.node.demux.release_ufrag(ufrag);
        }
        let flows: Vec<Flow> = peer.flows.drain(..).collect();
        self.forget_flows(id, &flows);
        self.node.peer_closed();
        for up in self.up_tracks.values_mut() {
            up.subscribers.retain(|s| *s != id);
        }
        self.track_by_remote.remove(&id);
        self.dirty.remove(&id);
        self.needs_offer.remove(&id);
        let _ = now;
    }

    fn collect_writes(&mut self, peer: &mut Peer) {
        while let Some(out) = peer.pc.poll_write() {
            self.transmits.push_back(Transmit {
                flow: Flow::of(&out.transport),
                payload: out.message,
            });
        }
    }

    /// Drains every dirty connection until nothing more happens, then sends pending offers.
    /// Runs once at the end of every input (`SfuCore::handle`), never inside one.
    fn finish(&mut self, now: Instant) {
        loop {
            while let Some(id) = self.dirty.pop_first() {
                self.drain_peer(now, id);
            }
            let offers: Vec<PeerId> = std::mem::take(&mut self.needs_offer).into_iter().collect();
            for id in offers {
                self.send_offer(now, id);
            }
            self.send_keyframe_requests(now);
            if self.dirty.is_empty() {
                break;
            }
        }
        self.update_gauges();
    }

    fn report_speakers(&mut self, now: Instant) {
        let mut changes = Vec::new();
        for (room, detector) in &mut self.speakers {
            if let Some(speakers) = detector.tick(now) {
                changes.push((room.clone(), speakers));
            }
        }
        for (room, speakers) in changes {
            for member in self.rooms.members(&room) {
                self.emit(&member, SfuEvent::ActiveSpeakers(speakers.clone()));
            }
        }
        if self.speakers.is_empty() {
            self.timers.stop(Timer::Speakers);
        } else {
            self.timers.set(Timer::Speakers, now + SPEAKER_TICK);
        }
    }

    /// Adds this core's change since the last input to the node-wide gauges (other workers
    /// add theirs to the same atomics), and sets its own worker's participant gauge.
    fn update_gauges(&mut self) {
        // A spread room's members and tracks count on the worker they are on, the room itself
        // on its lowest-numbered worker.
        let relayed = self
            .up_tracks
            .values()
            .filter(|u| u.origin.relayed_from().is_some())
            .count();
        let now = [
            self.rooms.room_count().saturating_sub(
                self.shards
                    .counted_elsewhere(self.worker, |r| !self.rooms.members(r).is_empty()),
            ) as u64,
            (self
                .rooms
                .participant_count()
                .saturating_sub(self.shards.remote_count())) as u64,
            (self.rooms.track_count().saturating_sub(relayed)) as u64,
            self.peers.len() as u64,
        ];
        if now == self.gauges {
            return;
        }
        let stats = &self.stats;
        let fields = [
            &stats.rooms,
            &stats.participants,
            &stats.published_tracks,
            &stats.peer_connections,
        ];
        SfuStats::shift_all(fields, self.gauges, now);
        if let Some(worker) = stats.workers.get(self.worker) {
            SfuStats::set(&worker.participants, now[1]);
        }
        self.gauges = now;
    }
}
