//! Counters the media plane keeps for operators. Plain atomics so the packet path pays one
//! relaxed add; signaling turns them into Prometheus metrics at scrape time, so this crate
//! knows nothing of HTTP.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct SfuStats {
    pub rooms: AtomicU64,
    pub participants: AtomicU64,
    pub published_tracks: AtomicU64,
    pub peer_connections: AtomicU64,
    pub forwarded_packets: AtomicU64,
    pub forwarded_bytes: AtomicU64,
    pub received_packets: AtomicU64,
    pub received_bytes: AtomicU64,
    pub keyframe_requests: AtomicU64,
    /// Datagrams no peer connection claimed (unknown ufrag or address).
    pub unroutable_datagrams: AtomicU64,
    /// Sends refused because the destination is outside the configured allow-list.
    pub blocked_sends: AtomicU64,
}

impl SfuStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, n: u64) {
        gauge.store(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
