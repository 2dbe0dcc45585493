//! An in-memory network for the Sans-I/O core: the real `SfuCore` and real webrtc-rs `rtc`
//! client peer connections (ICE, DTLS, SRTP and all), with datagrams handed between them by
//! function calls and time as a variable. No sockets, no threads, deterministic.
//! Shared by the forwarding benchmark and the core tests (`#[path]`-included).

#![allow(dead_code)]

mod acks;
mod packets;

#[allow(unused_imports)] // each test uses some
pub use packets::{sdp_attribute, stun_check, stun_check_nominating, vp8_layer_packet, vp8_packet};

use bytes::{Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::{RTCConfigurationBuilder, RTCOfferOptions};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use sfu::core::{CoreConfig, SfuCore, SfuEvent};
use sfu::input::{Datagram, Join, Publish, SubscriberAnswer, Timeout};
use sfu::{Flow, ParticipantMeta, ParticipantSid, SfuStats, TrackSid};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SERVER: &str = "127.0.0.1:7882";

pub struct Client {
    pub sid: ParticipantSid,
    pub addr: SocketAddr,
    pub pc: RTCPeerConnection,
    pub connected: bool,
    /// RTP packets this client received (as decrypted by its own peer connection).
    pub received: Vec<rtc::rtp::Packet>,
    /// Keep what arrives? Benchmarks drop it unread.
    pub keep_received: bool,
    /// A participant's second, screen-share connection (publishes with `PeerRole::Screen`).
    pub screen: bool,
    /// Its SSRCs the server's receiver reports have named.
    pub acked: acks::Acked,
    /// The media worker (core) its participant is on.
    pub worker: usize,
}

/// Decides whether a datagram from the server to `peer` is lost (tests of repair).
pub type DropFn = Box<dyn FnMut(SocketAddr, &[u8]) -> bool>;

pub struct Net {
    /// Worker 0's core (the only one unless made `with_workers`).
    pub core: SfuCore,
    /// Workers 1.. of a node with several: a room spread over them relays between cores.
    pub others: Vec<SfuCore>,
    /// Which workers hold each room, as the node's placement would say.
    pub shards: HashMap<String, BTreeSet<usize>>,
    pub clients: Vec<Client>,
    pub now: Instant,
    pub server: SocketAddr,
    pub drop_to: Option<DropFn>,
    pub dropped: u64,
    /// Every event the core emitted other than subscriber offers (which `settle` answers).
    pub events: Vec<(ParticipantSid, SfuEvent)>,
    /// The publisher's header extension ids for (mid, rid): webrtc-rs does not add them to
    /// simulcast packets itself, and the server needs them to bind RID streams.
    pub simulcast_ext: Option<(u8, u8)>,
    /// Rewrites publisher offers before the core sees them (other clients' SDP dialects).
    pub offer_rewrite: Option<fn(&str) -> String>,
}

fn client_pc(addr: SocketAddr, now: Instant, acked: &acks::Acked) -> RTCPeerConnection {
    let mut engine = MediaEngine::default();
    for (codec, kind) in sfu::peer::codecs() {
        engine.register_codec(codec, kind).expect("codec");
    }
    // Next to the wire, so it reads every report before the default interceptors do.
    let registry = Registry::new().with(Slot::from(1), acks::AckTap::interceptor(acked));
    let registry = register_default_interceptors(registry, &mut engine).expect("registry");
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings)
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .build(now)
        .expect("client pc");
    pc.add_local_candidate(
        sfu::peer::host_candidate(addr, sfu::Transport::Udp).expect("candidate"),
    )
    .expect("local candidate");
    pc
}

impl Net {
    pub fn new() -> Self {
        Self::with_workers(1)
    }

    /// A node with `workers` cores sharing one node state and one stats (like the driver's
    /// media workers); clients join a worker with `join_on`.
    pub fn with_workers(workers: usize) -> Self {
        let server: SocketAddr = SERVER.parse().unwrap();
        let config = CoreConfig {
            candidates: vec![server],
            tcp_candidates: Vec::new(),
            keyframe_request_interval: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(25),
            limits: sfu::config::Limits::default(),
        };
        let stats = Arc::new(SfuStats::new(workers));
        let node = Arc::new(sfu::node::Node::default());
        let mut cores: Vec<SfuCore> = (0..workers.max(1))
            .map(|w| SfuCore::on_node(config.clone(), stats.clone(), node.clone(), w))
            .collect();
        let core = cores.remove(0);
        Self {
            core,
            others: cores,
            shards: HashMap::new(),
            clients: Vec::new(),
            now: Instant::now(),
            server,
            drop_to: None,
            dropped: 0,
            events: Vec::new(),
            simulcast_ext: None,
            offer_rewrite: None,
        }
    }

    /// Adds a participant to `room`; returns its index.
    pub fn join(&mut self, room: &str, name: &str, publish: bool) -> usize {
        self.join_as(room, name, publish, true)
    }

    /// Adds a participant that may or may not subscribe (a client has one connection here, so
    /// one that publishes and also subscribes to others' tracks cannot be modelled).
    pub fn join_as(&mut self, room: &str, name: &str, publish: bool, subscribe: bool) -> usize {
        self.join_as_on(0, room, name, publish, subscribe)
    }

    /// Adds a participant to `room` on media worker `worker`; returns its index.
    pub fn join_on(&mut self, worker: usize, room: &str, name: &str, publish: bool) -> usize {
        self.join_as_on(worker, room, name, publish, true)
    }

    /// The core of media worker `worker`.
    pub fn core_of(&mut self, worker: usize) -> &mut SfuCore {
        match worker {
            0 => &mut self.core,
            w => &mut self.others[w - 1],
        }
    }

    fn join_as_on(
        &mut self,
        worker: usize,
        room: &str,
        name: &str,
        publish: bool,
        subscribe: bool,
    ) -> usize {
        let sid = ParticipantSid::random();
        let meta = ParticipantMeta {
            sid: sid.clone(),
            identity: name.to_owned(),
            name: name.to_owned(),
            can_publish: publish,
            can_subscribe: subscribe,
            hidden: false,
        };
        let join = Join {
            room: room.to_owned(),
            meta,
            max_participants: None,
        };
        let now = self.now;
        let shards = self.shards.entry(room.to_owned()).or_default();
        if shards.insert(worker) && shards.len() > 1 {
            let others = shards.iter().copied().filter(|&w| w != worker).collect();
            let open = sfu::input::OpenShard {
                room: room.to_owned(),
                others,
            };
            self.core_of(worker).handle(now, open).expect("open shard");
        }
        self.core_of(worker).handle(now, join).expect("join");
        let addr: SocketAddr = format!("127.0.0.1:{}", 40_000 + self.clients.len())
            .parse()
            .unwrap();
        let acked = acks::Acked::default();
        self.clients.push(Client {
            sid,
            addr,
            pc: client_pc(addr, self.now, &acked),
            connected: false,
            received: Vec::new(),
            keep_received: true,
            screen: false,
            acked,
            worker,
        });
        self.clients.len() - 1
    }

    /// Opens a screen-share connection for participant `index` (same participant, its own
    /// peer connection); returns its client index. Publish on it with `publish_video`.
    pub fn add_screen_connection(&mut self, index: usize) -> usize {
        let addr: SocketAddr = format!("127.0.0.1:{}", 40_000 + self.clients.len())
            .parse()
            .unwrap();
        let acked = acks::Acked::default();
        self.clients.push(Client {
            sid: self.clients[index].sid.clone(),
            addr,
            pc: client_pc(addr, self.now, &acked),
            connected: false,
            received: Vec::new(),
            keep_received: false,
            screen: true,
            acked,
            worker: self.clients[index].worker,
        });
        self.clients.len() - 1
    }

    /// Client `index` offers what it has added, the core answers; returns the offer SDP.
    /// Sends a new offer from publisher `index` (its current transceivers) and applies the
    /// server's answer, as a client does whenever its tracks change; returns the offer.
    pub fn negotiate_publisher(&mut self, index: usize) -> String {
        self.offer_from_publisher(index, false)
    }

    /// Like [`Net::negotiate_publisher`], with an ICE restart: the offer carries new ICE
    /// credentials, as after a browser's `restartIce()`; returns the offer.
    pub fn restart_publisher_ice(&mut self, index: usize) -> String {
        self.offer_from_publisher(index, true)
    }

    fn offer_from_publisher(&mut self, index: usize, ice_restart: bool) -> String {
        let now = self.now;
        let client = &mut self.clients[index];
        let options = ice_restart.then_some(RTCOfferOptions { ice_restart: true });
        let offer = client.pc.create_offer(options).expect("offer");
        client
            .pc
            .set_local_description(now, offer.clone())
            .expect("local offer");
        let sid = client.sid.clone();
        let rewrite = self.offer_rewrite.unwrap_or(str::to_owned);
        let role = if client.screen {
            sfu::PeerRole::Screen
        } else {
            sfu::PeerRole::Publisher
        };
        let publish = Publish {
            sid,
            role,
            offer: rewrite(&offer.sdp),
            sources: Vec::new(),
        };
        let worker = self.clients[index].worker;
        let answer = self.core_of(worker).handle(now, publish).expect("publish");
        self.clients[index]
            .pc
            .set_remote_description(now, RTCSessionDescription::answer(answer).unwrap())
            .expect("answer");
        offer.sdp
    }

    /// Publishes one VP8 track from client `index`; returns (sender, ssrc).
    pub fn publish_video(&mut self, index: usize) -> (RTCRtpSenderId, u32) {
        let ssrc = 0x5000_0000 + index as u32;
        let codec = sfu::peer::codecs()
            .into_iter()
            .find(|(c, _)| c.rtp_codec.mime_type == "video/VP8")
            .unwrap()
            .0;
        let client = &mut self.clients[index];
        let track = MediaStreamTrack::new(
            format!("stream-{index}"),
            format!("video-{index}"),
            format!("video-{index}"),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.rtp_codec,
                ..Default::default()
            }],
        );
        let sender = client.pc.add_track(track).expect("add track");
        self.negotiate_publisher(index);
        (sender, ssrc)
    }

    /// Publishes one VP8 track as three RID simulcast encodings `q`, `h`, `f`; returns the
    /// sender and the SSRCs, smallest layer first.
    pub fn publish_simulcast(&mut self, index: usize) -> (RTCRtpSenderId, [u32; 3]) {
        let ssrcs = [
            0x6000_0000 + index as u32,
            0x6100_0000 + index as u32,
            0x6200_0000 + index as u32,
        ];
        let codec = sfu::peer::codecs()
            .into_iter()
            .find(|(c, _)| c.rtp_codec.mime_type == "video/VP8")
            .unwrap()
            .0;
        let codings = ["q", "h", "f"]
            .iter()
            .zip(ssrcs)
            .map(|(rid, ssrc)| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: (*rid).to_owned(),
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.rtp_codec.clone(),
                ..Default::default()
            })
            .collect();
        let client = &mut self.clients[index];
        let track = MediaStreamTrack::new(
            format!("stream-{index}"),
            format!("camera-{index}"),
            format!("camera-{index}"),
            RtpCodecKind::Video,
            codings,
        );
        let sender = client.pc.add_track(track).expect("add track");
        let offer = self.negotiate_publisher(index);
        let extmap = |uri: &str| -> u8 {
            offer
                .lines()
                .find(|l| l.starts_with("a=extmap:") && l.ends_with(uri))
                .and_then(|l| l["a=extmap:".len()..].split(' ').next()?.parse().ok())
                .expect("extension offered")
        };
        self.simulcast_ext = Some((
            extmap("urn:ietf:params:rtp-hdrext:sdes:mid"),
            extmap("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
        ));
        (sender, ssrcs)
    }

    /// Moves datagrams, answers server offers and fires timers until nothing is in flight.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = self.relay();
            let mut transmits = Vec::new();
            let mut events = Vec::new();
            for w in 0..=self.others.len() {
                let core = self.core_of(w);
                transmits.extend(std::iter::from_fn(|| core.poll_transmit()));
                events.extend(std::iter::from_fn(|| core.poll_event()));
            }
            for t in transmits {
                moved = true;
                // Only SRTP (first byte 128..=191) may be lost: ICE and DTLS stay reliable here.
                let is_media = t.payload.first().is_some_and(|b| (128..=191).contains(b));
                if let (true, Some(lose)) = (is_media, self.drop_to.as_mut()) {
                    if lose(t.flow.peer, &t.payload) {
                        self.dropped += 1;
                        continue;
                    }
                }
                if let Some(client) = self.clients.iter_mut().find(|c| c.addr == t.flow.peer) {
                    let _ = client.pc.handle_read(TaggedBytesMut {
                        now: self.now,
                        transport: TransportContext {
                            local_addr: client.addr,
                            peer_addr: t.flow.local,
                            ecn: None,
                            transport_protocol: TransportProtocol::UDP,
                        },
                        message: t.payload,
                    });
                }
            }
            for (sid, event) in events {
                if let SfuEvent::SubscriberOffer { sdp } = event {
                    let index = self.clients.iter().position(|c| c.sid == sid).unwrap();
                    self.answer_offer(index, &sdp);
                    moved = true;
                } else {
                    self.events.push((sid, event));
                }
            }
            let mut outgoing = Vec::new();
            for client in &mut self.clients {
                while let Some(out) = client.pc.poll_write() {
                    outgoing.push((client.addr, out.message));
                }
                while let Some(event) = client.pc.poll_event() {
                    if let rtc::peer_connection::event::RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event {
                        client.connected = state == RTCPeerConnectionState::Connected;
                    }
                }
                while let Some(message) = client.pc.poll_read() {
                    if let RTCMessage::RtpPacket(_, packet) = message.message {
                        if client.keep_received {
                            client.received.push(packet);
                        }
                    }
                }
            }
            for (from, payload) in outgoing {
                moved = true;
                self.deliver(from, payload);
            }
            if !moved {
                return;
            }
        }
    }

    /// Hands every core's messages for other workers to them (what the driver's job queues
    /// do); returns whether there were any.
    fn relay(&mut self) -> bool {
        let mut any = false;
        for from in 0..=self.others.len() {
            let mut out: Vec<Vec<sfu::core::relay::Relayed>> =
                vec![Vec::new(); self.others.len() + 1];
            let core = self.core_of(from);
            while let Some((to, message)) = core.poll_relay() {
                out[to].push(message);
            }
            let now = self.now;
            for (to, messages) in out.into_iter().enumerate() {
                if !messages.is_empty() {
                    any = true;
                    let relay = sfu::input::Relay { from, messages };
                    self.core_of(to).handle(now, relay).expect("relay");
                }
            }
        }
        any
    }

    /// Client `index` applies the server's subscriber offer `sdp` and the core its answer.
    pub fn answer_offer(&mut self, index: usize, sdp: &str) {
        let now = self.now;
        let client = &mut self.clients[index];
        let offer = RTCSessionDescription::offer(sdp.to_owned()).unwrap();
        client
            .pc
            .set_remote_description(now, offer)
            .expect("server offer");
        let answer = client.pc.create_answer(None).expect("answer");
        client
            .pc
            .set_local_description(now, answer.clone())
            .expect("local answer");
        let answer = SubscriberAnswer {
            sid: client.sid.clone(),
            answer: answer.sdp,
        };
        let worker = self.clients[index].worker;
        self.core_of(worker)
            .handle(now, answer)
            .expect("subscriber answer");
    }

    /// The first published track's sid, from the events collected so far.
    pub fn published_track(&self) -> TrackSid {
        self.events
            .iter()
            .find_map(|(_, e)| match e {
                SfuEvent::TrackPublished(meta) => Some(meta.sid.clone()),
                _ => None,
            })
            .expect("track published")
    }

    /// Hands the core a datagram from `from` (a client's address) now.
    pub fn deliver(&mut self, from: SocketAddr, data: BytesMut) {
        let datagram = Datagram {
            flow: Flow::udp(self.server, from),
            data,
        };
        let worker = self
            .clients
            .iter()
            .find(|c| c.addr == from)
            .map_or(0, |c| c.worker);
        let now = self.now;
        self.core_of(worker)
            .handle(now, datagram)
            .expect("datagram");
    }

    /// Advances time by `step`, firing every due timer, and settles.
    pub fn advance(&mut self, step: Duration) {
        self.now += step;
        let now = self.now;
        for w in 0..=self.others.len() {
            self.core_of(w).handle(now, Timeout).expect("timeout");
        }
        for client in &mut self.clients {
            if client.pc.poll_timeout().is_some_and(|t| t <= now) {
                let _ = client.pc.handle_timeout(now);
            }
        }
        self.settle();
    }

    /// Runs the clock until every negotiated client connection is up (or panics after `limit`).
    pub fn connect_all(&mut self, limit: Duration) {
        let start = self.now;
        self.settle();
        while self.now.duration_since(start) < limit {
            if self
                .clients
                .iter()
                .all(|c| c.connected || c.pc.remote_description().is_none())
            {
                return;
            }
            self.advance(Duration::from_millis(10));
        }
        panic!("peers did not connect within {limit:?}");
    }

    /// Adds the mid and rid header extensions a browser puts on simulcast packets.
    pub fn tag_simulcast(&self, packet: &mut rtc::rtp::Packet, rid: &str) {
        let Some((mid_id, rid_id)) = self.simulcast_ext else {
            return;
        };
        packet.header.extension = true;
        packet.header.extension_profile = 0xBEDE;
        packet.header.extensions = vec![
            rtc::rtp::header::Extension {
                id: mid_id,
                payload: Bytes::from_static(b"0"),
            },
            rtc::rtp::header::Extension {
                id: rid_id,
                payload: Bytes::copy_from_slice(rid.as_bytes()),
            },
        ];
    }

    /// Encrypts one RTP packet on the publisher's connection and returns the datagram(s) it
    /// would put on the wire, without delivering them.
    pub fn publisher_datagrams(
        &mut self,
        index: usize,
        sender: RTCRtpSenderId,
        packet: rtc::rtp::Packet,
    ) -> Vec<(SocketAddr, BytesMut)> {
        let now = self.now;
        let client = &mut self.clients[index];
        client
            .pc
            .rtp_sender(sender)
            .expect("sender")
            .write_rtp(now, packet)
            .expect("write");
        let mut out = Vec::new();
        while let Some(t) = client.pc.poll_write() {
            out.push((client.addr, t.message));
        }
        out
    }
}
