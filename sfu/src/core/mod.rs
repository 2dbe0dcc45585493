//! The Sans-I/O media core: every room, participant and peer connection of this node, driven
//! only by its inputs (`handle_datagram`, `handle_timeout`, the request methods) with time
//! passed in. It produces datagrams to send (`poll_transmit`) and events for signaling
//! (`poll_event`). No sockets, no clock, no tasks: `driver.rs` owns those.
//!
//! Layout: this file routes inputs to peer connections and drains their outputs;
//! `publish.rs` handles the publisher leg (incoming tracks, forwarding); `subscribe.rs` the
//! subscriber leg (down tracks, server offers).

mod publish;
mod subscribe;
mod view;

use crate::allocation::{allocate, UpgradeHold, VideoDemand, NOMINAL_LAYER_BPS};
use crate::error::SfuError;
use crate::forwarder::Forwarder;
use crate::ids::{random_ice_pwd, random_ice_ufrag, ParticipantSid, PeerId, PeerRole, TrackSid};
use crate::layers::{choose, choose_capped, ranked, wanted_rank, Layer, LayerLimit, LayerSwitch};
use crate::peer::{build_peer, PeerSetup};
use crate::rooms::MediaKind;
use crate::rooms::{ParticipantMeta, ParticipantSnapshot, Rooms, TrackMeta, TrackSource};
use crate::speaker::SpeakerDetector;
use crate::stats::SfuStats;
use crate::stun;
use crate::vp8::Vp8Munger;
use bytes::BytesMut;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::TaggedRTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    TrackPublished(TrackMeta),
    TrackUnpublished {
        track: TrackSid,
        owner: ParticipantSid,
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

/// A datagram to send from the socket whose advertised address is `local`.
#[derive(Debug)]
pub struct Transmit {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub payload: BytesMut,
}

#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Host candidates: each advertised IP on the shared UDP port.
    pub candidates: Vec<SocketAddr>,
    /// At most one keyframe request per published track in this interval.
    pub keyframe_request_interval: Duration,
}

/// One forwarded track on a subscriber's connection.
struct DownTrack {
    sender_id: RTCRtpSenderId,
    forwarder: Forwarder,
    codec: RTCRtpCodec,
    /// Which simulcast layer this subscriber gets, and what it asked for.
    layer: LayerSwitch,
    limit: LayerLimit,
    /// Picture id continuity across layer switches (VP8 only).
    vp8: Option<Vp8Munger>,
    /// The bandwidth allocation: `Capped(rank)`, or `Paused` for lack of room.
    allocation: Allocation,
    hold: UpgradeHold,
    /// When this subscriber started waiting for a keyframe of its target layer.
    waiting_since: Option<Instant>,
}

/// The payload type the leg negotiated for the down track's codec, once it is negotiated.
fn negotiated_payload_type(pc: &mut RTCPeerConnection, down: &DownTrack) -> Option<u8> {
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
enum Allocation {
    /// No estimate yet: the subscriber's own limit decides.
    Unlimited,
    Capped(usize),
    Paused,
}

impl DownTrack {
    fn new(sender_id: RTCRtpSenderId, kind: MediaKind, ssrc: u32, codec: RTCRtpCodec) -> Self {
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
        }
    }

    /// The SSRC this subscriber should get of `layers` now.
    fn target(&self, layers: &[Layer]) -> Option<u32> {
        match self.allocation {
            Allocation::Unlimited => choose(layers, self.limit),
            Allocation::Capped(rank) => choose_capped(layers, self.limit, Some(rank)),
            Allocation::Paused => None,
        }
    }

    /// The next packet comes from another stream (layer or publisher).
    fn switch_source(&mut self) {
        self.forwarder.switch_source();
        if let Some(vp8) = &mut self.vp8 {
            vp8.switch_source();
        }
    }
}

struct Peer {
    pc: RTCPeerConnection,
    owner: ParticipantSid,
    role: PeerRole,
    ufrag: String,
    /// Next time this connection wants `handle_timeout`.
    deadline: Option<Instant>,
    connected: bool,
    /// Subscriber leg: the downlink estimate that caps its layers.
    estimate: Option<crate::peer::DownlinkEstimate>,
    /// The address of the pair the browser nominated last, once the connection answered it:
    /// media goes there (the ICE agent would keep using the first nomination).
    path: Option<SocketAddr>,
    /// An address that sent a nomination not answered yet.
    nominating: Option<SocketAddr>,
    /// Last datagram from the client: liveness, since ICE timeouts are off.
    last_received: Instant,
    /// The downlink estimate at the previous allocation, to see which way it moves.
    last_estimate: u64,
    // Subscriber leg only.
    down: HashMap<TrackSid, DownTrack>,
    /// Viewer (WHEP) slots with no source right now.
    idle: Vec<DownTrack>,
    awaiting_answer: bool,
    /// Tracks changed while an offer was outstanding: offer again after the answer.
    renegotiate_after_answer: bool,
}

/// How often speaker detection reports (only when the speaker list changed).
const SPEAKER_TICK: Duration = Duration::from_millis(400);
/// How often layer bitrates are measured and subscribers' bandwidth is shared out.
const ALLOCATION_TICK: Duration = Duration::from_millis(500);
/// A connection that has sent nothing for this long has failed.
const PEER_TIMEOUT: Duration = Duration::from_secs(20);
/// A layer nobody needs for this long is paused at the publisher (dynacast).
const DYNACAST_PAUSE_AFTER: Duration = Duration::from_secs(3);

/// A track arriving on some publisher connection.
struct UpTrack {
    owner: ParticipantSid,
    /// The publisher's own id for the track (msid), which its client knows it by.
    remote_track_id: String,
    room: String,
    /// The publisher leg's id for the RFC 6464 audio-level extension, if negotiated.
    audio_level_ext: Option<u8>,
    publisher: PeerId,
    receiver_id: RTCRtpReceiverId,
    /// One per simulcast encoding (one for a plain track).
    layers: Vec<Layer>,
    codec: RTCRtpCodec,
    video_codec: Option<crate::codec::VideoCodec>,
    /// Subscriber connections with a down track for this track.
    subscribers: Vec<PeerId>,
}

#[derive(Default)]
struct ParticipantPeers {
    publisher: Option<PeerId>,
    subscriber: Option<PeerId>,
    /// What the client said each of its tracks is (by msid track id).
    sources: HashMap<String, TrackSource>,
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
    peers: HashMap<PeerId, Peer>,
    next_peer: u64,
    by_ufrag: HashMap<String, PeerId>,
    by_addr: HashMap<(SocketAddr, SocketAddr), PeerId>,
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
    next_speaker_tick: Option<Instant>,
    last_allocation: Option<Instant>,
}

impl SfuCore {
    pub fn new(config: CoreConfig, stats: Arc<SfuStats>) -> Self {
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
            next_speaker_tick: None,
            last_allocation: None,
        }
    }

    pub fn stats(&self) -> &Arc<SfuStats> {
        &self.stats
    }

    /// Adds a participant to a room; returns who is already there.
    pub fn join(
        &mut self,
        now: Instant,
        room: &str,
        meta: ParticipantMeta,
    ) -> Result<Vec<ParticipantSnapshot>, SfuError> {
        let sid = meta.sid.clone();
        let others = self.rooms.join(room, meta)?;
        self.participants
            .insert(sid.clone(), ParticipantPeers::default());
        if let Some(snapshot) = self.rooms.snapshot(&sid) {
            for other in &others {
                self.emit(
                    &other.meta.sid,
                    SfuEvent::ParticipantJoined(snapshot.clone()),
                );
            }
        }
        for track in self.rooms.tracks_for(&sid) {
            self.add_down_track(now, &sid, &track);
        }
        self.finish(now);
        Ok(others)
    }

    /// Removes a participant: closes their connections, ends their tracks, tells the others.
    pub fn leave(&mut self, now: Instant, sid: &ParticipantSid) {
        let Some(peers) = self.participants.remove(sid) else {
            return;
        };
        let hidden = self.rooms.participant(sid).is_some_and(|p| p.hidden);
        for id in [peers.publisher, peers.subscriber].into_iter().flatten() {
            self.close_peer(now, id);
        }
        if let Some(departure) = self.rooms.leave(sid) {
            for track in &departure.removed_tracks {
                self.end_up_track(now, &track.sid, &departure.remaining, sid);
            }
            if !hidden {
                for other in &departure.remaining {
                    self.emit(other, SfuEvent::ParticipantLeft(sid.clone()));
                }
            }
            if departure.room_closed {
                self.speakers.remove(&departure.room);
            } else if let Some(detector) = self.speakers.get_mut(&departure.room) {
                detector.remove(sid);
            }
            tracing::info!(
                participant = %sid,
                room_closed = departure.room_closed,
                "participant left"
            );
        }
        self.finish(now);
    }

    /// Trickled client candidate for one of the participant's connections.
    pub fn add_ice_candidate(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        role: PeerRole,
        candidate: Candidate,
    ) -> Result<(), SfuError> {
        let id = self.peer_of(sid, role)?;
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
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
        self.finish(now);
        Ok(())
    }

    /// A datagram from the shared UDP port. `local` is the advertised address it arrived on.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer_addr: SocketAddr,
        data: BytesMut,
    ) {
        let id = match stun::local_ufrag(&data) {
            Some(ufrag) => self.by_ufrag.get(ufrag).copied(),
            None => self.by_addr.get(&(local, peer_addr)).copied(),
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
            peer.nominating = Some(peer_addr);
        }
        SfuStats::add(&self.stats.received_bytes, data.len() as u64);
        if let Err(err) = peer.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: local,
                peer_addr,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: data,
        }) {
            tracing::debug!(%err, "peer connection rejected a datagram");
        }
        self.dirty.insert(id);
        self.finish(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter_map(|p| p.deadline)
            .chain(self.next_speaker_tick)
            .chain(self.next_allocation())
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_speaker_tick.is_some_and(|at| at <= now) {
            self.report_speakers(now);
        }
        if self.next_allocation().is_none_or(|at| at <= now) && !self.peers.is_empty() {
            self.allocate_bandwidth(now);
        }
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(peer) = self.peers.get_mut(&id) {
                if let Err(err) = peer.pc.handle_timeout(now) {
                    tracing::debug!(%err, "peer connection timeout handling failed");
                }
                self.dirty.insert(id);
            }
        }
        self.finish(now);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<(ParticipantSid, SfuEvent)> {
        self.events.pop_front()
    }

    /// Closes every connection (shutdown); the close alerts are in `poll_transmit`.
    pub fn close_all(&mut self, now: Instant) {
        let sids: Vec<_> = self.participants.keys().cloned().collect();
        for sid in sids {
            self.leave(now, &sid);
        }
    }

    fn emit(&mut self, to: &ParticipantSid, event: SfuEvent) {
        self.events.push_back((to.clone(), event));
    }

    fn peer_of(&self, sid: &ParticipantSid, role: PeerRole) -> Result<PeerId, SfuError> {
        let peers = self.participants.get(sid).ok_or(SfuError::NotInRoom)?;
        match role {
            PeerRole::Publisher => peers.publisher,
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
        let ufrag = loop {
            let candidate = random_ice_ufrag();
            if !self.by_ufrag.contains_key(&candidate) {
                break candidate;
            }
        };
        let pwd = random_ice_pwd();
        let (pc, estimate) = build_peer(
            &PeerSetup {
                ice_ufrag: &ufrag,
                ice_pwd: &pwd,
                candidates: &self.config.candidates,
            },
            role == PeerRole::Subscriber,
            now,
        )
        .map_err(|e| SfuError::Internal(e.to_string()))?;
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        self.by_ufrag.insert(ufrag.clone(), id);
        self.peers.insert(
            id,
            Peer {
                pc,
                owner: owner.clone(),
                role,
                ufrag,
                deadline: None,
                connected: false,
                estimate,
                path: None,
                nominating: None,
                last_received: now,
                last_estimate: 0,
                down: HashMap::new(),
                idle: Vec::new(),
                awaiting_answer: false,
                renegotiate_after_answer: false,
            },
        );
        if let Some(peers) = self.participants.get_mut(owner) {
            match role {
                PeerRole::Publisher => peers.publisher = Some(id),
                PeerRole::Subscriber => peers.subscriber = Some(id),
            }
        }
        self.dirty.insert(id);
        Ok(id)
    }

    /// Sends the connection's host candidates as trickle events (they are in the SDP too).
    fn announce_candidates(&mut self, owner: &ParticipantSid, role: PeerRole) {
        let candidates: Vec<_> = self
            .config
            .candidates
            .iter()
            .filter_map(|addr| crate::peer::host_candidate(*addr).ok())
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
        self.by_ufrag.remove(&peer.ufrag);
        self.by_addr.retain(|_, v| *v != id);
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
                local: out.transport.local_addr,
                peer: out.transport.peer_addr,
                payload: out.message,
            });
        }
    }

    /// Drains every dirty connection until nothing more happens, then sends pending offers.
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

    fn drain_peer(&mut self, now: Instant, id: PeerId) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        loop {
            let mut progressed = false;
            while let Some(out) = peer.pc.poll_write() {
                progressed = true;
                let mut peer_addr = out.transport.peer_addr;
                if stun::is_stun(&out.message) {
                    // The connection only answers checks that passed MESSAGE-INTEGRITY, so an
                    // address it writes to is a validated route for non-STUN traffic; an
                    // answered nomination is the browser's current path.
                    self.by_addr
                        .entry((out.transport.local_addr, peer_addr))
                        .or_insert(id);
                    if peer.nominating == Some(peer_addr) {
                        peer.nominating = None;
                        if peer.path != Some(peer_addr) {
                            tracing::debug!(participant = %peer.owner, role = ?peer.role, %peer_addr, "following the browser to a new candidate pair");
                        }
                        peer.path = Some(peer_addr);
                    }
                } else if let Some(path) = peer.path {
                    peer_addr = path;
                }
                self.transmits.push_back(Transmit {
                    local: out.transport.local_addr,
                    peer: peer_addr,
                    payload: out.message,
                });
            }
            while let Some(event) = peer.pc.poll_event() {
                progressed = true;
                self.on_peer_event(now, id, &mut peer, event);
            }
            while let Some(TaggedRTCMessage { message, .. }) = peer.pc.poll_read() {
                progressed = true;
                self.on_peer_message(now, id, &mut peer, message);
            }
            if !progressed {
                break;
            }
        }
        peer.deadline = peer.pc.poll_timeout();
        self.peers.insert(id, peer);
    }

    fn on_peer_event(
        &mut self,
        now: Instant,
        id: PeerId,
        peer: &mut Peer,
        event: RTCPeerConnectionEvent,
    ) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                let mapped = match state {
                    RTCPeerConnectionState::Connected => PeerState::Connected,
                    RTCPeerConnectionState::Disconnected => PeerState::Disconnected,
                    RTCPeerConnectionState::Failed => PeerState::Failed,
                    RTCPeerConnectionState::Closed => PeerState::Closed,
                    _ => PeerState::Connecting,
                };
                tracing::info!(participant = %peer.owner, role = ?peer.role, state = ?mapped, "peer connection state");
                // Disconnected is often transient (the browser moving to another candidate
                // pair); only a failed or closed connection stops forwarding.
                let was_connected = peer.connected;
                peer.connected = match mapped {
                    PeerState::Connected => true,
                    PeerState::Failed | PeerState::Closed => false,
                    _ => peer.connected,
                };
                if peer.connected && !was_connected && peer.role == PeerRole::Subscriber {
                    // Anything forwarded before DTLS completed was dropped: start with keyframes.
                    for (track, down) in &peer.down {
                        if let Some(ssrc) = down.layer.waiting_for().or(down.layer.current()) {
                            self.keyframe_wanted.insert((track.clone(), ssrc));
                        }
                    }
                }
                let owner = peer.owner.clone();
                let role = peer.role;
                self.emit(
                    &owner,
                    SfuEvent::PeerState {
                        role,
                        state: mapped,
                    },
                );
            }
            RTCPeerConnectionEvent::OnTrack(track_event) if peer.role == PeerRole::Publisher => {
                self.on_publisher_track(now, id, peer, track_event);
            }
            _ => {}
        }
    }

    fn on_peer_message(
        &mut self,
        now: Instant,
        id: PeerId,
        peer: &mut Peer,
        message: rtc::peer_connection::message::RTCMessage,
    ) {
        use rtc::peer_connection::message::RTCMessage;
        match message {
            RTCMessage::RtpPacket(track_id, packet) if peer.role == PeerRole::Publisher => {
                self.forward_rtp(now, id, &track_id, packet);
            }
            RTCMessage::RtcpPacket(track_id, packets) if peer.role == PeerRole::Subscriber => {
                // Only keyframe requests are delivered here (see peer.rs): relay them.
                let track = TrackSid(track_id.to_string());
                let layer = peer
                    .down
                    .get(&track)
                    .and_then(|d| d.layer.waiting_for().or(d.layer.current()));
                if let (false, Some(ssrc)) = (packets.is_empty(), layer) {
                    self.keyframe_wanted.insert((track, ssrc));
                }
            }
            _ => {}
        }
    }

    /// Asks publishers for keyframes, at most once per layer per configured interval.
    fn send_keyframe_requests(&mut self, now: Instant) {
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
            let Some(peer) = self.peers.get_mut(&up.publisher) else {
                continue;
            };
            let Some(mut receiver) = peer.pc.rtp_receiver(up.receiver_id) else {
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
                self.dirty.insert(up.publisher);
            }
        }
    }

    /// Re-targets every subscriber of `track` after its layers or their limits changed.
    fn reselect_layers(&mut self, track: &TrackSid) {
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
    pub fn set_layer_limit(
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
        self.reselect_layers(track);
        self.finish(now);
        Ok(())
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
        self.next_speaker_tick = (!self.speakers.is_empty()).then(|| now + SPEAKER_TICK);
    }

    fn next_allocation(&self) -> Option<Instant> {
        if self.peers.is_empty() {
            return None;
        }
        self.last_allocation.map(|at| at + ALLOCATION_TICK)
    }

    /// Declares connections that have sent nothing for [`PEER_TIMEOUT`] failed (browsers send
    /// RTCP every second or so and consent checks every few seconds).
    fn expire_silent_peers(&mut self, now: Instant) {
        let mut failed = Vec::new();
        for peer in self.peers.values_mut() {
            if peer.connected && now.saturating_duration_since(peer.last_received) > PEER_TIMEOUT {
                peer.connected = false;
                failed.push((peer.owner.clone(), peer.role));
            }
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

    /// Measures layer bitrates, then shares each subscriber's downlink estimate across the
    /// video it receives (see `allocation.rs`).
    fn allocate_bandwidth(&mut self, now: Instant) {
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
        let speakers: HashMap<&str, &ParticipantSid> = self
            .speakers
            .iter()
            .filter_map(|(room, d)| d.loudest().map(|sid| (room.as_str(), sid)))
            .collect();
        let mut retarget: Vec<(TrackSid, u32)> = Vec::new();
        for peer in self.peers.values_mut() {
            let Some(estimate) = peer.estimate.as_ref().map(|e| e.bits_per_second()) else {
                continue;
            };
            if peer.connected {
                self.stats.downlink_estimate_bps.observe(estimate as f64);
            }
            if peer.down.is_empty() {
                continue;
            }
            let mut audio_bps = 0;
            let mut sent_bps = 0;
            let mut videos: Vec<(&TrackSid, VideoDemand)> = Vec::new();
            for (track, down) in &peer.down {
                let Some(up) = self.up_tracks.get(track) else {
                    continue;
                };
                let current = down.layer.current();
                let current_rate = up
                    .layers
                    .iter()
                    .find(|l| Some(l.ssrc) == current)
                    .map_or(0, |l| l.rate_bps);
                sent_bps += current_rate;
                if up.video_codec.is_none() {
                    audio_bps += current_rate;
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
            // Without probing, GCC only confirms rates it has seen, so its level says little
            // about headroom; its direction does: it cuts on delay growth or loss. While it is
            // not falling (and not far below what is sent), one more layer may be tried; the
            // upgrade hold paces the climb and backs off after failed ones.
            let previous = std::mem::replace(&mut peer.last_estimate, estimate);
            let falling = estimate < previous * 95 / 100;
            let congested = falling || estimate < sent_bps / 2;
            let budget = if falling {
                // Overuse: what is being sent is too much, whatever level the estimate is at.
                estimate.min(sent_bps * 85 / 100)
            } else if congested {
                estimate
            } else {
                estimate.max(sent_bps + NOMINAL_LAYER_BPS[2])
            };
            let demands: Vec<VideoDemand> = videos.iter().map(|(_, d)| d.clone()).collect();
            let ranks = allocate(budget, audio_bps, &demands);
            let tracks: Vec<TrackSid> = videos.into_iter().map(|(t, _)| t.clone()).collect();
            for (track, rank) in tracks.into_iter().zip(ranks) {
                let Some(down) = peer.down.get_mut(&track) else {
                    continue;
                };
                let applied = down.hold.update(rank, now);
                down.allocation = match applied {
                    Some(rank) => Allocation::Capped(rank),
                    None => Allocation::Paused,
                };
                let Some(up) = self.up_tracks.get(&track) else {
                    continue;
                };
                let before = down.layer.waiting_for();
                down.layer.set_target(down.target(&up.layers));
                if let Some(ssrc) = down.layer.waiting_for().filter(|w| Some(*w) != before) {
                    retarget.push((track.clone(), ssrc));
                }
            }
        }
        self.keyframe_wanted.extend(retarget);
        self.update_dynacast(now);
    }

    /// Tells publishers which simulcast layers anyone needs: a layer that is no subscriber's
    /// current or target layer for a while is paused; one that is needed again resumes at once.
    /// The smallest layer always stays on, so a new subscriber has something to start with.
    fn update_dynacast(&mut self, now: Instant) {
        let mut changes = Vec::new();
        for (sid, up) in &mut self.up_tracks {
            if up.layers.len() < 2 || up.layers.iter().any(|l| l.rid.is_none()) {
                continue;
            }
            let mut needed: Vec<u32> = Vec::new();
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
        for (owner, event) in changes {
            SfuStats::add(&self.stats.dynacast_changes, 1);
            tracing::debug!(participant = %owner, ?event, "dynacast");
            self.emit(&owner, event);
        }
    }

    fn update_gauges(&self) {
        SfuStats::set(&self.stats.rooms, self.rooms.room_count() as u64);
        SfuStats::set(
            &self.stats.participants,
            self.rooms.participant_count() as u64,
        );
        SfuStats::set(
            &self.stats.published_tracks,
            self.rooms.track_count() as u64,
        );
        SfuStats::set(&self.stats.peer_connections, self.peers.len() as u64);
    }
}
