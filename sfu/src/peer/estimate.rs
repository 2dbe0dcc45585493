//! A subscriber leg's downlink as its feedback tells it: GCC's estimate shared with the core,
//! congestion events, and where each forwarded stream last restarted at a keyframe.

use crate::delivery::{Congestion, Delivered, DeliveryMonitor};
use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A subscriber connection's downlink as its feedback tells it: GCC's send-side estimate, and
/// congestion events with the rate packets actually arrived at (see [`DeliveryMonitor`]); and,
/// the other way, where each of its streams last restarted at a keyframe (see
/// [`RetransmitBudget`]). Shared between its interceptor chain and the core; the figures are
/// atomics, the restart points a mutex only a layer switch or a retransmission takes.
#[derive(Debug, Clone, Default)]
pub struct DownlinkEstimate(Arc<DownlinkShared>);

#[derive(Debug, Default)]
struct DownlinkShared {
    estimate_bps: AtomicU64,
    congestion_events: AtomicU64,
    /// At the last congestion event; 0 when it could not be measured.
    delivered_bps: AtomicU64,
    /// Outgoing SSRC → sequence number of the keyframe its current source started with.
    restarts: Mutex<HashMap<u32, u16>>,
}

impl DownlinkEstimate {
    pub fn bits_per_second(&self) -> u64 {
        self.0.estimate_bps.load(Ordering::Relaxed)
    }

    /// How many congestion events there have been: the core reacts when this moves.
    pub fn congestion_events(&self) -> u64 {
        self.0.congestion_events.load(Ordering::Relaxed)
    }

    /// The arrival rate measured at the last congestion event.
    pub fn delivered_bps(&self) -> Option<u64> {
        Some(self.0.delivered_bps.load(Ordering::Relaxed)).filter(|&bps| bps > 0)
    }

    /// The stream `ssrc` restarted at a keyframe with sequence number `seq` (a layer switch or
    /// a new publisher): packets sent before it cannot help its decoder any more.
    pub fn restarted(&self, ssrc: u32, seq: u16) {
        if let Ok(mut restarts) = self.0.restarts.lock() {
            restarts.insert(ssrc, seq);
        }
    }

    /// The stream stopped (its down track went away).
    pub fn forget_stream(&self, ssrc: u32) {
        if let Ok(mut restarts) = self.0.restarts.lock() {
            restarts.remove(&ssrc);
        }
    }

    /// Whether resending `seq` on `ssrc` can still help: not if it was sent before the stream's
    /// last restart (within half the sequence space, the usual RTP window).
    pub(super) fn worth_repairing(&self, ssrc: u32, seq: u16) -> bool {
        let Ok(restarts) = self.0.restarts.lock() else {
            return true;
        };
        restarts
            .get(&ssrc)
            .is_none_or(|&restart| !seq_before(seq, restart))
    }

    pub(super) fn set(&self, bps: f64) {
        self.0
            .estimate_bps
            .store(bps.max(0.0) as u64, Ordering::Relaxed);
    }

    pub(super) fn signal(&self, congestion: Congestion) {
        self.0
            .delivered_bps
            .store(congestion.delivered_bps.unwrap_or(0), Ordering::Relaxed);
        self.0.congestion_events.fetch_add(1, Ordering::Relaxed);
    }
}

/// `a` comes before `b` in RTP sequence order (wrapping, within half the space).
fn seq_before(a: u16, b: u16) -> bool {
    let ahead = b.wrapping_sub(a);
    ahead != 0 && ahead < 0x8000
}

/// Wraps the estimator so every change of its target becomes visible through a
/// [`DownlinkEstimate`], and watches the same feedback for congestion events.
pub(super) struct EstimateTap<E> {
    pub(super) inner: E,
    pub(super) out: DownlinkEstimate,
    pub(super) monitor: DeliveryMonitor,
}

/// Only packets that carried a transport-wide sequence number can be acknowledged by TWCC
/// feedback (Parley's only kind). webrtc-rs 0.21.1 also reports the others (a stream the
/// subscriber did not negotiate transport-cc on, e.g. GStreamer's audio) as never arrived,
/// which reads as heavy loss and pins the estimate to its floor.
fn acknowledgeable(reports: &[PacketReport]) -> std::borrow::Cow<'_, [PacketReport]> {
    if reports.iter().all(|r| r.is_twcc) {
        std::borrow::Cow::Borrowed(reports)
    } else {
        reports.iter().filter(|r| r.is_twcc).cloned().collect()
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for EstimateTap<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        let reports = &*acknowledgeable(reports);
        if reports.is_empty() {
            return;
        }
        self.inner.on_reports(now, reports);
        let target = self.inner.target_bitrate();
        self.out.set(target);
        for report in reports {
            self.monitor.record(Delivered {
                departure: report.departure,
                size: report.size,
                arrival: report.arrival.filter(|_| report.arrived),
            });
        }
        if let Some(congestion) = self.monitor.check(now, target) {
            self.out.signal(congestion);
        }
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.out.set(self.inner.target_bitrate());
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Counts what reaches the wrapped estimator.
    #[derive(Default)]
    struct Seen(Vec<(usize, usize)>);

    impl BandwidthEstimator for Seen {
        fn on_reports(&mut self, _now: Instant, reports: &[PacketReport]) {
            let arrived = reports.iter().filter(|r| r.arrived).count();
            self.0.push((reports.len(), arrived));
        }
        fn target_bitrate(&self) -> f64 {
            1_000_000.0
        }
    }

    #[test]
    #[rustfmt::skip]
    fn reports_without_a_transport_wide_sequence_number_never_reach_the_estimator() {
        let now = Instant::now();
        let report = |id: u64, is_twcc: bool, arrived: bool| PacketReport {
            ssrc: if is_twcc { 1 } else { 2 },
            id,
            rtp_sequence_number: id as u16,
            is_twcc,
            twcc_sequence_number: id as u16,
            size: 1200,
            arrived,
            departure: now,
            arrival: arrived.then(|| Duration::from_millis(id)),
            ecn: rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn::NotEct,
        };
        let mut tap = EstimateTap { inner: Seen::default(), out: DownlinkEstimate::default(), monitor: DeliveryMonitor::default() };
        // (reports in one feedback, what the estimator sees: (reports, arrived))
        type Row = (Vec<PacketReport>, Option<(usize, usize)>);
        let rows: Vec<Row> = vec![
            (vec![report(1, true, true), report(2, true, false)],                          Some((2, 1))),
            // Audio without transport-cc interleaved: "lost" to webrtc-rs, dropped here.
            (vec![report(3, true, true), report(4, false, false), report(5, true, true)],  Some((2, 2))),
            (vec![report(6, false, false)],                                                None),
        ];
        for (i, (reports, expected)) in rows.into_iter().enumerate() {
            let before = tap.inner.0.len();
            tap.on_reports(now, &reports);
            assert_eq!(tap.inner.0.get(before).copied(), expected, "row {i}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn repairs_stop_at_the_last_restart() {
        let estimate = DownlinkEstimate::default();
        estimate.restarted(7, 100);
        estimate.restarted(9, 3); // restarted just after wrapping
        // (ssrc, seq, still worth repairing)
        let rows = [
            (7, 99,     false), // the old layer's loss
            (7, 30_000, true),  // less than half the space ahead
            (7, 100,    true),  // the keyframe itself
            (7, 101,    true),
            (9, 65_535, false), // before the restart, across the wrap
            (9, 3,      true),
            (8, 5,      true),  // a stream that never restarted
        ];
        for (i, (ssrc, seq, wanted)) in rows.into_iter().enumerate() {
            assert_eq!(estimate.worth_repairing(ssrc, seq), wanted, "row {i}");
        }
        estimate.forget_stream(7);
        assert!(estimate.worth_repairing(7, 99), "a forgotten stream has no restart");
    }
}
