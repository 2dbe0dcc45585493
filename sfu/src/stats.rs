//! Counters the media plane keeps for operators. Plain atomics so the packet path pays one
//! relaxed add; signaling turns them into Prometheus metrics at scrape time, so this crate
//! knows nothing of HTTP.

use prometheus::{Histogram, HistogramOpts};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct SfuStats {
    pub rooms: AtomicU64,
    pub participants: AtomicU64,
    pub published_tracks: AtomicU64,
    pub peer_connections: AtomicU64,
    /// Connected peer connections whose media goes straight over UDP, over ICE-TCP, and
    /// through a TURN relay.
    pub peer_connections_udp: AtomicU64,
    pub peer_connections_tcp: AtomicU64,
    pub peer_connections_relay: AtomicU64,
    pub forwarded_packets: AtomicU64,
    pub forwarded_bytes: AtomicU64,
    pub received_packets: AtomicU64,
    pub received_bytes: AtomicU64,
    pub keyframe_requests: AtomicU64,
    /// Datagrams no peer connection claimed (unknown ufrag or address).
    pub unroutable_datagrams: AtomicU64,
    /// Sends refused because the destination is outside the configured allow-list.
    pub blocked_sends: AtomicU64,
    /// A subscriber moved from one simulcast layer to another.
    pub layer_switches: AtomicU64,
    /// Simulcast layers paused / resumed at publishers (dynacast).
    pub dynacast_changes: AtomicU64,
    /// A subscriber's feedback showed congestion (loss or a falling estimate) and its layers
    /// were re-allocated at once.
    pub congestion_events: AtomicU64,
    /// Participants removed because a connection of theirs never connected in time.
    pub connect_timeouts: AtomicU64,
    /// Participants removed because their session stopped reading its events.
    pub event_cutoffs: AtomicU64,
    /// Each subscriber's downlink estimate, sampled every allocation tick (no per-user labels).
    pub downlink_estimate_bps: Histogram,
    /// From wanting a layer to its first keyframe being forwarded.
    pub keyframe_wait_seconds: Histogram,
    /// From reading a datagram off the socket to the last send it caused (its wait in the
    /// worker's queue, its processing: one packet's fan-out, and the batched sends), per
    /// datagram that caused any.
    pub forward_delay_seconds: Histogram,
    /// Datagrams the node's receive loops dropped because a worker's queue was full.
    pub worker_queue_drops: AtomicU64,
    /// Packets of a room spread over workers that one worker fanned out for another's track.
    pub relayed_packets: AtomicU64,
    /// Such packets lost on the way because the receiving worker's queue was full.
    pub relay_drops: AtomicU64,
    /// One per media worker, by index.
    pub workers: Vec<WorkerStats>,
    /// The ICE-TCP port.
    pub tcp: TcpStats,
}

/// What the ICE-TCP port (RFC 6544) holds and refuses.
#[derive(Debug, Default)]
pub struct TcpStats {
    /// Connections open (accepted, not yet closed).
    pub connections: AtomicU64,
    /// Connections closed by the node, by [`TcpRefusal`] (indexed by `as usize`).
    pub refused: [AtomicU64; TcpRefusal::ALL.len()],
    /// Frames for a connection whose send queue was full (the client reads too slowly): lost,
    /// as a full socket buffer loses UDP datagrams.
    pub send_drops: AtomicU64,
}

/// Why the node closed an ICE-TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRefusal {
    /// The node holds as many connections as it may (in total, or not yet answered from
    /// one address).
    Limit,
    /// The client's address is outside the peer allow-list.
    NotAllowed,
    /// The first frame was not a Binding request for a connection of the node.
    NotStun,
    /// A frame longer than any packet Parley exchanges.
    Oversized,
    /// No check answered within the handshake deadline, or nothing received for the idle
    /// deadline.
    Timeout,
    /// The peer connection it served was closed.
    Closed,
}

impl TcpRefusal {
    pub const ALL: [TcpRefusal; 6] = [
        Self::Limit,
        Self::NotAllowed,
        Self::NotStun,
        Self::Oversized,
        Self::Timeout,
        Self::Closed,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Limit => "limit",
            Self::NotAllowed => "not_allowed",
            Self::NotStun => "not_stun",
            Self::Oversized => "oversized",
            Self::Timeout => "timeout",
            Self::Closed => "closed",
        }
    }
}

impl TcpStats {
    pub(crate) fn refuse(&self, reason: TcpRefusal) {
        SfuStats::add(&self.refused[reason as usize], 1);
    }

    pub fn refused(&self, reason: TcpRefusal) -> u64 {
        SfuStats::get(&self.refused[reason as usize])
    }
}

/// What one media worker does (labelled by worker index: bounded by the node's cores).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Participants in the worker's rooms.
    pub participants: AtomicU64,
    /// Datagrams handed to the worker by the receive loops.
    pub received_datagrams: AtomicU64,
    /// Datagrams the worker sent.
    pub sent_datagrams: AtomicU64,
}

impl Default for SfuStats {
    fn default() -> Self {
        Self::new(1)
    }
}

impl SfuStats {
    /// Counters for a node with `workers` media workers.
    pub fn new(workers: usize) -> Self {
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid histogram")
        };
        Self {
            rooms: AtomicU64::default(),
            participants: AtomicU64::default(),
            published_tracks: AtomicU64::default(),
            peer_connections: AtomicU64::default(),
            peer_connections_udp: AtomicU64::default(),
            peer_connections_tcp: AtomicU64::default(),
            peer_connections_relay: AtomicU64::default(),
            forwarded_packets: AtomicU64::default(),
            forwarded_bytes: AtomicU64::default(),
            received_packets: AtomicU64::default(),
            received_bytes: AtomicU64::default(),
            keyframe_requests: AtomicU64::default(),
            unroutable_datagrams: AtomicU64::default(),
            blocked_sends: AtomicU64::default(),
            congestion_events: AtomicU64::default(),
            connect_timeouts: AtomicU64::default(),
            event_cutoffs: AtomicU64::default(),
            layer_switches: AtomicU64::default(),
            dynacast_changes: AtomicU64::default(),
            downlink_estimate_bps: histogram(
                "parley_subscriber_downlink_estimate_bps",
                "Subscribers' send-side bandwidth estimates (GCC), sampled every 500 ms",
                vec![150e3, 300e3, 500e3, 1e6, 2e6, 5e6, 10e6, 20e6],
            ),
            keyframe_wait_seconds: histogram(
                "parley_keyframe_wait_seconds",
                "Time from a subscriber needing a layer to forwarding its first keyframe",
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0],
            ),
            forward_delay_seconds: histogram(
                "parley_media_forward_delay_seconds",
                "From reading a datagram to the last send it caused (queue, fan-out, sending)",
                vec![
                    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
                ],
            ),
            worker_queue_drops: AtomicU64::default(),
            relayed_packets: AtomicU64::default(),
            relay_drops: AtomicU64::default(),
            workers: (0..workers.max(1))
                .map(|_| WorkerStats::default())
                .collect(),
            tcp: TcpStats::default(),
        }
    }
}

impl SfuStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, n: u64) {
        gauge.store(n, Ordering::Relaxed);
    }

    /// Moves gauges several writers share (each core adds its own part) by one writer's change
    /// from `old` to `new`, gauge by gauge.
    pub(crate) fn shift_all<const N: usize>(gauges: [&AtomicU64; N], old: [u64; N], new: [u64; N]) {
        for ((gauge, old), new) in gauges.into_iter().zip(old).zip(new) {
            if new > old {
                gauge.fetch_add(new - old, Ordering::Relaxed);
            } else {
                gauge.fetch_sub(old - new, Ordering::Relaxed);
            }
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
