//! Light subscribers: as many as possible per core of load generator, each one a normal
//! subscriber to the server. A light subscriber joins through the signaling protocol, answers the
//! server's offers and completes ICE and DTLS-SRTP with a sans-I/O `rtc` peer connection on its
//! own UDP socket, like a browser. Then it counts the media it receives without decrypting it
//! (the RTP header is in the clear in SRTP): packets and bytes, loss by sequence gaps per SSRC.
//! It answers the way a browser's RTCP would, so the server's congestion control and layer
//! selection behave: transport-wide feedback from the arrival times of what it counted, and
//! receiver reports, both SRTCP-protected by the connection.
//!
//! # Layout
//! - [`session`]: a light subscriber's signaling (join, offers, candidates).
//! - `worker`: the task that holds many subscribers and their sockets (epoll + `recvmmsg`).
//! - `subscriber`: one subscriber's state in its worker; `peer`: its `rtc` connection.
//! - [`rtp`]: datagram classification and the clear RTP header; [`streams`]: per-SSRC counts
//!   and receiver report blocks; [`twcc`]: transport-wide feedback; `sys`: the system calls.

mod peer;
pub mod rtp;
pub mod session;
pub mod streams;
mod subscriber;
mod sys;
pub mod tcp;
pub mod twcc;
mod worker;

pub use session::LightSubscriber;
pub use tcp::LightTransport;

use crate::signal::SignalError;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use worker::WorkerHandle;

#[derive(Debug, thiserror::Error)]
pub enum LightError {
    #[error(transparent)]
    Signal(Box<SignalError>),
    #[error("webrtc: {0}")]
    Rtc(Box<rtc::shared::error::Error>),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("negotiation: {0}")]
    Negotiation(&'static str),
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    #[error("the light worker stopped")]
    WorkerStopped,
}

impl From<SignalError> for LightError {
    fn from(err: SignalError) -> Self {
        Self::Signal(Box::new(err))
    }
}

impl From<rtc::shared::error::Error> for LightError {
    fn from(err: rtc::shared::error::Error) -> Self {
        Self::Rtc(Box::new(err))
    }
}

/// What one light subscriber has counted so far. The worker publishes its counts every
/// feedback interval (100 ms), so the receive path touches no atomics.
#[derive(Debug, Default)]
pub struct Counters {
    connected: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
    gaps: AtomicU64,
    malformed: AtomicU64,
    control: AtomicU64,
    twcc_feedbacks: AtomicU64,
    receiver_reports: AtomicU64,
    offers_answered: AtomicU64,
}

/// A reading of [`Counters`]; summed over subscribers for a run's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Subscribers whose connection is up (1 or 0 for one subscriber).
    pub connected: u64,
    /// RTP packets received (counted from their clear header, never decrypted).
    pub packets: u64,
    /// Their bytes on the wire (SRTP: header, encrypted payload, auth tag).
    pub bytes: u64,
    /// Sequence numbers that never arrived, per SSRC.
    pub lost: u64,
    /// Times a stream's sequence skipped ahead.
    pub gaps: u64,
    /// Datagrams that were neither RTP, RTCP, STUN nor DTLS, or unparseable RTP.
    pub malformed: u64,
    /// STUN, DTLS and RTCP datagrams handed to the connection (RTP never is).
    pub control: u64,
    /// Transport-wide congestion control feedback packets sent.
    pub twcc_feedbacks: u64,
    /// Receiver reports sent.
    pub receiver_reports: u64,
    pub offers_answered: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Snapshot {
            connected: u64::from(self.connected.load(Ordering::Relaxed)),
            packets: get(&self.packets),
            bytes: get(&self.bytes),
            lost: get(&self.lost),
            gaps: get(&self.gaps),
            malformed: get(&self.malformed),
            control: get(&self.control),
            twcc_feedbacks: get(&self.twcc_feedbacks),
            receiver_reports: get(&self.receiver_reports),
            offers_answered: get(&self.offers_answered),
        }
    }
}

impl std::iter::Sum for Snapshot {
    fn sum<I: Iterator<Item = Snapshot>>(iter: I) -> Self {
        iter.fold(Snapshot::default(), |a, b| Snapshot {
            connected: a.connected + b.connected,
            packets: a.packets + b.packets,
            bytes: a.bytes + b.bytes,
            lost: a.lost + b.lost,
            gaps: a.gaps + b.gaps,
            malformed: a.malformed + b.malformed,
            control: a.control + b.control,
            twcc_feedbacks: a.twcc_feedbacks + b.twcc_feedbacks,
            receiver_reports: a.receiver_reports + b.receiver_reports,
            offers_answered: a.offers_answered + b.offers_answered,
        })
    }
}

/// The worker tasks light subscribers are spread over, and the address their sockets bind.
pub struct LightPool {
    workers: Vec<WorkerHandle>,
    next: AtomicUsize,
    local_ip: IpAddr,
    transport: LightTransport,
}

impl LightPool {
    /// Starts `tasks` worker tasks (at least one) on the current tokio runtime; subscribers
    /// bind UDP sockets on `local_ip` (see [`local_ip_toward`]), or connect from it over
    /// ICE-TCP.
    pub fn start(
        tasks: usize,
        local_ip: IpAddr,
        transport: LightTransport,
    ) -> Result<Self, LightError> {
        let workers = (0..tasks.max(1))
            .map(|_| WorkerHandle::spawn())
            .collect::<Result<_, _>>()?;
        Ok(Self {
            workers,
            next: AtomicUsize::new(0),
            local_ip,
            transport,
        })
    }

    /// The next worker, round robin.
    fn pick(&self) -> WorkerHandle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[i].clone()
    }
}

/// The local address packets to `server` leave from (the server learns subscribers' addresses
/// from their ICE checks, and a connection's candidate must be the address its socket has).
pub fn local_ip_toward(server: IpAddr) -> std::io::Result<IpAddr> {
    let unspecified = match server {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let probe = UdpSocket::bind((unspecified, 0))?;
    probe.connect((server, 9))?;
    Ok(probe.local_addr()?.ip())
}
