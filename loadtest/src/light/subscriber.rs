//! One light subscriber as its worker holds it: its socket, its sans-I/O connection, what it
//! counted, and the RTCP it owes the server. RTP datagrams stop at [`rtp::parse`]: they are
//! counted and their arrival recorded for TWCC, never handed to the connection (so never
//! decrypted); STUN, DTLS and RTCP go to the connection, whose output goes to the socket.

use super::rtp::{self, DatagramKind};
use super::streams::Streams;
use super::tcp::{self, LightTransport, TcpLink};
use super::twcc::TwccRecorder;
use super::{peer, Counters, LightError};
use bytes::BytesMut;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a subscriber sends transport-wide feedback (Chromium: every 50–250 ms with the
/// rate) and receiver reports (Chromium: about once a second).
const FEEDBACK_EVERY: Duration = Duration::from_millis(100);
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Where a subscriber's packets go: its own UDP socket, or (ICE-TCP) a connection to the
/// server, opened once the server's offer names its passive TCP candidate.
enum Link {
    Udp(UdpSocket),
    Tcp(Option<TcpLink>),
}

pub struct Subscriber {
    link: Link,
    /// The UDP socket's address; over TCP, the address its connection will leave from.
    local: SocketAddr,
    /// A descriptor the worker has yet to watch (a TCP connection just opened).
    new_fd: Option<RawFd>,
    pc: RTCPeerConnection,
    pc_deadline: Option<Instant>,
    /// The negotiated transport-cc extension id.
    twcc_id: Option<u8>,
    /// This receiver's own SSRC in the RTCP it sends.
    sender_ssrc: u32,
    streams: Streams,
    twcc: TwccRecorder,
    /// Candidates that arrived before the offer.
    early_candidates: Vec<RTCIceCandidateInit>,
    connected: bool,
    next_feedback: Instant,
    next_report: Instant,
    /// Counted here, published to `counters` every feedback interval.
    packets: u64,
    bytes: u64,
    malformed: u64,
    control: u64,
    feedbacks: u64,
    reports: u64,
    counters: Arc<Counters>,
}

impl Subscriber {
    /// A subscriber on `socket` (non-blocking, bound to the address the server will see).
    pub fn new(
        socket: UdpSocket,
        counters: Arc<Counters>,
        now: Instant,
    ) -> Result<Self, LightError> {
        socket.set_nonblocking(true)?;
        super::sys::enable_timestamps(socket.as_raw_fd())?;
        let local = socket.local_addr()?;
        let pc = peer::build(local, LightTransport::Udp, now)?;
        Ok(Self::with(Link::Udp(socket), local, pc, counters, now))
    }

    /// A subscriber over ICE-TCP from `local_ip` (its connection opens with the first offer).
    pub fn new_tcp(
        local_ip: IpAddr,
        counters: Arc<Counters>,
        now: Instant,
    ) -> Result<Self, LightError> {
        let local = SocketAddr::new(local_ip, 9);
        let pc = peer::build(local, LightTransport::Tcp, now)?;
        Ok(Self::with(Link::Tcp(None), local, pc, counters, now))
    }

    fn with(
        link: Link,
        local: SocketAddr,
        pc: RTCPeerConnection,
        counters: Arc<Counters>,
        now: Instant,
    ) -> Self {
        // Spread the subscribers' RTCP over its intervals.
        let stagger = |every: Duration| now + every.mul_f64(rand::random::<f64>());
        Self {
            link,
            local,
            new_fd: None,
            pc,
            pc_deadline: Some(now),
            twcc_id: None,
            sender_ssrc: rand::random(),
            streams: Streams::default(),
            twcc: TwccRecorder::default(),
            early_candidates: Vec::new(),
            connected: false,
            next_feedback: stagger(FEEDBACK_EVERY),
            next_report: stagger(REPORT_EVERY),
            packets: 0,
            bytes: 0,
            malformed: 0,
            control: 0,
            feedbacks: 0,
            reports: 0,
            counters,
        }
    }

    /// The descriptor the worker watches, if there is one yet.
    pub fn fd(&self) -> Option<RawFd> {
        match &self.link {
            Link::Udp(socket) => Some(socket.as_raw_fd()),
            Link::Tcp(link) => link.as_ref().map(TcpLink::fd),
        }
    }

    pub fn is_tcp(&self) -> bool {
        matches!(self.link, Link::Tcp(_))
    }

    /// A descriptor opened since the worker last asked (to watch it).
    pub fn take_new_fd(&mut self) -> Option<RawFd> {
        self.new_fd.take()
    }

    /// Reads what the TCP connection has, frame by frame, as datagrams; false once the server
    /// closed it (it is dropped, so its descriptor leaves the worker's epoll set).
    pub fn read_tcp(&mut self, now: Instant) -> bool {
        let Link::Tcp(Some(link)) = &mut self.link else {
            return true;
        };
        let mut frames = Vec::new();
        let open = link.read_frames(&mut frames).is_ok();
        let peer = link.peer;
        let arrival_us = super::sys::wall_clock_us();
        for frame in frames {
            self.on_datagram(&frame, Some(peer), now, arrival_us);
        }
        if !open {
            self.link = Link::Tcp(None);
        }
        open
    }

    /// How a packet from `peer_addr` arrived, for the connection.
    fn context(&self, peer_addr: SocketAddr) -> TransportContext {
        let (local_addr, transport_protocol) = match &self.link {
            Link::Tcp(Some(link)) => (link.local, TransportProtocol::TCP),
            _ => (self.local, TransportProtocol::UDP),
        };
        TransportContext {
            local_addr,
            peer_addr,
            ecn: None,
            transport_protocol,
        }
    }

    /// One datagram from the socket, read at `now`; it arrived at `arrival_us` (µs since the
    /// Unix epoch, the kernel's timestamp).
    pub fn on_datagram(
        &mut self,
        data: &[u8],
        source: Option<SocketAddr>,
        now: Instant,
        arrival_us: i64,
    ) {
        match rtp::classify(data) {
            DatagramKind::Rtp => self.on_rtp(data, arrival_us),
            DatagramKind::Stun | DatagramKind::Dtls | DatagramKind::Rtcp => {
                let Some(peer_addr) = source else { return };
                self.control += 1;
                let _ = self.pc.handle_read(TaggedBytesMut {
                    now,
                    transport: self.context(peer_addr),
                    message: BytesMut::from(data),
                });
                self.service(now);
            }
            DatagramKind::Other => self.malformed += 1,
        }
    }

    /// The receive path proper: no allocation, no decryption.
    fn on_rtp(&mut self, data: &[u8], arrival_us: i64) {
        let Some(header) = rtp::parse(data, self.twcc_id) else {
            self.malformed += 1;
            return;
        };
        self.packets += 1;
        self.bytes += data.len() as u64;
        self.streams.record(header.ssrc, header.sequence_number);
        if let Some(seq) = header.transport_seq {
            self.twcc.record(header.ssrc, seq, arrival_us);
        }
    }

    /// Applies a server offer; the answer to send back.
    pub fn answer(&mut self, now: Instant, offer: String) -> Result<String, LightError> {
        if let Link::Tcp(link @ None) = &mut self.link {
            let server = tcp::passive_candidate(&offer).ok_or(LightError::Negotiation(
                "the offer has no passive TCP candidate",
            ))?;
            let opened = TcpLink::connect(server)?;
            self.new_fd = Some(opened.fd());
            *link = Some(opened);
        }
        let (answer, twcc_id) = peer::answer(&mut self.pc, now, offer)?;
        self.twcc_id = twcc_id;
        for candidate in std::mem::take(&mut self.early_candidates) {
            let _ = self.pc.add_remote_candidate(candidate);
        }
        self.service(now);
        Ok(answer)
    }

    pub fn add_candidate(&mut self, candidate: RTCIceCandidateInit) {
        if self.pc.remote_description().is_some() {
            let _ = self.pc.add_remote_candidate(candidate);
        } else {
            self.early_candidates.push(candidate);
        }
    }

    /// Timers: the connection's own, then feedback and reports when they are due.
    pub fn on_tick(&mut self, now: Instant) {
        if let Link::Tcp(Some(link)) = &mut self.link {
            let _ = link.flush();
        }
        let mut touched = false;
        if self.pc_deadline.is_some_and(|at| at <= now) {
            let _ = self.pc.handle_timeout(now);
            touched = true;
        }
        if self.connected && now >= self.next_feedback {
            self.next_feedback = now + FEEDBACK_EVERY;
            if let Some(feedback) = self.twcc.build(self.sender_ssrc) {
                self.send_rtcp(now, vec![Box::new(feedback)]);
                self.feedbacks += 1;
                touched = true;
            }
            self.publish();
        }
        if self.connected && now >= self.next_report {
            self.next_report = now + REPORT_EVERY;
            let reports = self.streams.reports(now);
            if !reports.is_empty() {
                let report = ReceiverReport {
                    ssrc: self.sender_ssrc,
                    reports,
                    ..Default::default()
                };
                self.send_rtcp(now, vec![Box::new(report)]);
                self.reports += 1;
                touched = true;
            }
        }
        if touched {
            self.service(now);
        }
    }

    /// Through the connection, so it leaves SRTCP-protected (the track id is not used for RTCP).
    fn send_rtcp(&mut self, now: Instant, packets: Vec<Box<dyn rtc::rtcp::Packet>>) {
        let _ = self.pc.handle_write(TaggedRTCMessage {
            now,
            message: RTCMessage::RtcpPacket(String::new(), packets),
        });
    }

    /// Drains the connection: state changes, incoming RTCP (sender reports, for the receiver
    /// reports' LSR/DLSR), datagrams to send, the next deadline.
    fn service(&mut self, now: Instant) {
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event {
                self.connected = state == RTCPeerConnectionState::Connected;
                self.counters
                    .connected
                    .store(self.connected, Ordering::Relaxed);
            }
        }
        while let Some(message) = self.pc.poll_read() {
            let RTCMessage::RtcpPacket(_, packets) = message.message else {
                continue;
            };
            for packet in &packets {
                if let Some(sr) = packet.as_any().downcast_ref::<SenderReport>() {
                    self.streams.sender_report(sr.ssrc, sr.ntp_time, now);
                }
            }
        }
        while let Some(out) = self.pc.poll_write() {
            match &mut self.link {
                Link::Udp(socket) => {
                    let _ = socket.send_to(&out.message, out.transport.peer_addr);
                }
                Link::Tcp(Some(link)) if link.peer == out.transport.peer_addr => {
                    let _ = link.send(&out.message);
                }
                Link::Tcp(_) => {}
            }
        }
        self.pc_deadline = self.pc.poll_timeout();
    }

    /// Makes what was counted visible to the run.
    pub fn publish(&self) {
        let c = &self.counters;
        c.packets.store(self.packets, Ordering::Relaxed);
        c.bytes.store(self.bytes, Ordering::Relaxed);
        c.lost.store(self.streams.lost(), Ordering::Relaxed);
        c.gaps.store(self.streams.gaps(), Ordering::Relaxed);
        c.malformed.store(self.malformed, Ordering::Relaxed);
        c.control.store(self.control, Ordering::Relaxed);
        c.twcc_feedbacks.store(self.feedbacks, Ordering::Relaxed);
        c.receiver_reports.store(self.reports, Ordering::Relaxed);
    }

    /// Closes the connection (DTLS close_notify goes out).
    pub fn close(&mut self, now: Instant) {
        self.publish();
        let _ = self.pc.close();
        self.service(now);
        self.counters.connected.store(false, Ordering::Relaxed);
    }
}
