//! What a subscriber's transport-wide feedback says about its downlink right now, next to
//! GCC's estimate: the rate its packets actually arrive at and how many are lost. GCC moves
//! its target in steps (and only confirms rates it has seen), so when a downlink collapses —
//! a 2 Mbit/s cap becoming 350 kbit/s — it takes several feedback rounds to come down. The
//! arrival rate of the last half second already is the link's capacity, because a saturated
//! bottleneck delivers exactly that much. The feedback shows the queue in front of the
//! bottleneck growing a round trip after the overload starts, long before it overflows into
//! loss, so a growing one-way delay is an event too. Pure, with time as an input.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One packet as the feedback reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub departure: Instant,
    pub size: usize,
    /// Arrival on the receiver's clock; `None` if it was reported lost.
    pub arrival: Option<Duration>,
}

/// A congestion signal: the subscriber's downlink carries less than what is sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Congestion {
    /// Bytes that arrived over the arrival span of the window, in bits per second; `None` when
    /// too few packets arrived to say.
    pub delivered_bps: Option<u64>,
}

#[derive(Debug, Default)]
pub struct DeliveryMonitor {
    /// Reported packets of the last [`Self::WINDOW`] (by departure), oldest first.
    window: VecDeque<Delivered>,
    /// The estimate the last check compared against: the highest since the last signal.
    reference_bps: f64,
    last_signal: Option<Instant>,
    /// The first departure ever reported: one-way delays are measured from it, so they can
    /// be compared from one check to the next (the receiver's clock has its own origin).
    epoch: Option<Instant>,
    /// The recent delay at the last signal the queue raised, and when.
    queue_signal: Option<(Instant, f64)>,
}

impl DeliveryMonitor {
    const WINDOW: Duration = Duration::from_millis(500);
    /// Loss judged over the packets sent this recently (feedback lags by about an RTT).
    const LOSS_WINDOW: Duration = Duration::from_millis(300);
    const LOSS_SIGNAL: f64 = 0.10;
    /// Fewer packets than this say nothing about loss or rate.
    const MIN_PACKETS: usize = 10;
    /// A fall of the estimate by this fraction (from its peak since the last signal) signals.
    const ESTIMATE_FALL: f64 = 0.05;
    /// Signals closer together than this are one event: the first reaction is still landing.
    const SIGNAL_INTERVAL: Duration = Duration::from_millis(300);

    /// Queuing delay grown by this much over the window's least signals: a bottleneck's queue
    /// is filling. It shows a round trip after the overload starts, well before the queue
    /// overflows into loss (a 300 ms queue takes its length plus a round trip to lose).
    const QUEUE_SIGNAL: f64 = 0.100;
    /// The newest this many arrivals give the delay now (their least, so one late packet
    /// is not a queue).
    const RECENT: usize = 5;

    pub fn record(&mut self, packet: Delivered) {
        self.epoch.get_or_insert(packet.departure);
        self.window.push_back(packet);
    }

    /// One-way delay of each arrived packet in the window, oldest first (seconds, from an
    /// arbitrary but fixed origin).
    fn delays(&self) -> impl DoubleEndedIterator<Item = f64> + '_ {
        let epoch = self.epoch;
        self.window.iter().filter_map(move |p| {
            let sent = p.departure.saturating_duration_since(epoch?).as_secs_f64();
            Some(p.arrival?.as_secs_f64() - sent)
        })
    }

    /// The delay now, and how much longer it is than the window's least: the queue that
    /// built up meanwhile. `None` with too few arrivals.
    fn queuing(&self) -> Option<(f64, f64)> {
        // One pass (this runs on every feedback of every subscriber): the least delay of the
        // window, and of its newest `RECENT` arrivals, counting from the newest.
        let (mut count, mut least, mut now) = (0usize, f64::INFINITY, f64::INFINITY);
        for delay in self.delays().rev() {
            count += 1;
            least = least.min(delay);
            if count <= Self::RECENT {
                now = now.min(delay);
            }
        }
        (count >= Self::MIN_PACKETS).then_some((now, now - least))
    }

    /// The arrival rate of the packets that found a queue (delayed by half a signal's worth or
    /// more): what the bottleneck in front of them delivers. The window's whole arrival rate
    /// would still count the time before the queue, at the old rate.
    fn queue_rate(&self) -> Option<u64> {
        let least = self.delays().fold(f64::INFINITY, f64::min);
        // The newest run of queued packets, newest first.
        let run: Vec<(Duration, usize)> = self
            .delays()
            .rev()
            .zip(self.window.iter().rev().filter(|p| p.arrival.is_some()))
            .take_while(|(delay, _)| *delay >= least + Self::QUEUE_SIGNAL / 2.0)
            .filter_map(|(_, p)| p.arrival.map(|a| (a, p.size)))
            .collect();
        let (first, last) = (
            run.iter().map(|r| r.0).min()?,
            run.iter().map(|r| r.0).max()?,
        );
        // As in `delivered_bps`, the first arrival's bytes came before the span starts.
        let bytes: usize = run.iter().map(|r| r.1).sum::<usize>() - run.last().map_or(0, |r| r.1);
        let span = last.saturating_sub(first);
        if run.len() < Self::RECENT || span < Duration::from_millis(50) {
            return None;
        }
        Some((bytes as f64 * 8.0 / span.as_secs_f64()) as u64)
    }

    /// The queue grew by [`Self::QUEUE_SIGNAL`], and (within a window of its last signal)
    /// grew further since: a queue still draining after the reaction is not a new event.
    fn queue_growing(&self, now: Instant) -> bool {
        let Some((delay, queued)) = self.queuing() else {
            return false;
        };
        let previous = self
            .queue_signal
            .filter(|(at, _)| now.saturating_duration_since(*at) < Self::WINDOW)
            .map(|(_, delay)| delay);
        queued >= Self::QUEUE_SIGNAL
            && previous.is_none_or(|before| delay >= before + Self::QUEUE_SIGNAL / 2.0)
    }

    /// Loss among the packets of the last [`Self::LOSS_WINDOW`] reported on.
    pub fn loss(&self) -> Option<f64> {
        let newest = self.window.back()?.departure;
        let (mut total, mut lost) = (0usize, 0usize);
        // Newest first: stop at the first packet older than the loss window.
        for p in self.window.iter().rev() {
            if newest.saturating_duration_since(p.departure) > Self::LOSS_WINDOW {
                break;
            }
            total += 1;
            lost += usize::from(p.arrival.is_none());
        }
        if total < Self::MIN_PACKETS {
            return None;
        }
        Some(lost as f64 / total as f64)
    }

    /// The rate at which the window's packets arrived.
    pub fn delivered_bps(&self) -> Option<u64> {
        let mut arrivals = self
            .window
            .iter()
            .filter_map(|p| p.arrival.map(|a| (a, p.size)));
        let (first, _) = arrivals.next()?;
        // The first packet's bytes arrived before the span starts, so they do not count.
        let (mut last, mut count, mut bytes) = (first, 1usize, 0usize);
        for (arrival, size) in arrivals {
            bytes += size;
            count += 1;
            last = last.max(arrival);
        }
        let span = last.saturating_sub(first);
        if count < Self::MIN_PACKETS || span < Duration::from_millis(100) {
            return None;
        }
        Some((bytes as f64 * 8.0 / span.as_secs_f64()) as u64)
    }

    /// After a feedback batch: forgets old packets and says whether this is a congestion event
    /// — heavy loss, a queue building up, or the estimate falling from its recent peak.
    pub fn check(&mut self, now: Instant, estimate_bps: f64) -> Option<Congestion> {
        if let Some(newest) = self.window.back().map(|p| p.departure) {
            while self
                .window
                .front()
                .is_some_and(|p| newest.saturating_duration_since(p.departure) > Self::WINDOW)
            {
                self.window.pop_front();
            }
        }
        self.reference_bps = self.reference_bps.max(estimate_bps);
        let lossy = self.loss().is_some_and(|l| l >= Self::LOSS_SIGNAL);
        let falling = estimate_bps < self.reference_bps * (1.0 - Self::ESTIMATE_FALL);
        // The queued packets' arrival rate is the bottleneck's; a queue whose rate cannot be
        // told yet waits for its next feedback (or for the loss it leads to).
        let queue_rate = self.queue_growing(now).then(|| self.queue_rate()).flatten();
        let recent = self
            .last_signal
            .is_some_and(|at| now.saturating_duration_since(at) < Self::SIGNAL_INTERVAL);
        if !(lossy || falling || queue_rate.is_some()) || recent {
            return None;
        }
        if queue_rate.is_some() {
            self.queue_signal = self.queuing().map(|(delay, _)| (now, delay));
        }
        self.last_signal = Some(now);
        self.reference_bps = estimate_bps;
        Some(Congestion {
            delivered_bps: queue_rate.or_else(|| self.delivered_bps()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` packets of `size` bytes sent every `gap_ms` from `start_ms`, arriving every
    /// `arrival_gap_ms` from 20 ms later, every `lose_every`-th one lost (0: none).
    fn feed(
        m: &mut DeliveryMonitor,
        t0: Instant,
        (start_ms, n, size): (u64, u64, usize),
        (gap_ms, arrival_gap_ms): (u64, u64),
        lose_every: u64,
    ) {
        for i in 0..n {
            let lost = lose_every > 0 && i % lose_every == lose_every - 1;
            m.record(Delivered {
                departure: t0 + Duration::from_millis(start_ms + i * gap_ms),
                size,
                arrival: (!lost).then(|| Duration::from_millis(start_ms + 20 + i * arrival_gap_ms)),
            });
        }
    }

    #[test]
    fn delivered_rate_is_the_arrival_rate_not_the_sending_rate() {
        let t0 = Instant::now();
        // (send gap, arrival gap, loss 1 in n, expected kbit/s ±5 %)
        let rows: &[(u64, u64, u64, u64)] = &[
            (5, 5, 0, 1600), // 1000 B / 5 ms both ways: 1.6 Mbit/s
            (1, 5, 0, 1600), // sent at 8 Mbit/s, the bottleneck spaces arrivals at 5 ms
            (5, 5, 2, 800),  // half lost: half arrives, at the same spacing → 0.8 Mbit/s
            (5, 20, 0, 400), // a 400 kbit/s link
        ];
        for (i, &(gap, arrival_gap, lose, kbps)) in rows.iter().enumerate() {
            let mut m = DeliveryMonitor::default();
            feed(&mut m, t0, (0, 80, 1000), (gap, arrival_gap), lose);
            m.check(t0, 1e6);
            let got = m.delivered_bps().expect("enough packets") / 1000;
            assert!(
                got.abs_diff(kbps) <= kbps / 20,
                "row {i}: {got} kbit/s, want {kbps}"
            );
        }
    }

    #[test]
    fn too_few_packets_say_nothing() {
        let t0 = Instant::now();
        let mut m = DeliveryMonitor::default();
        feed(&mut m, t0, (0, 5, 1000), (5, 5), 0);
        assert_eq!(m.delivered_bps(), None);
        assert_eq!(m.loss(), None);
    }

    #[test]
    fn signals_on_loss_or_falling_estimate_at_most_every_300_ms() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut m = DeliveryMonitor::default();
        // Clean delivery at a steady estimate: nothing.
        feed(&mut m, t0, (0, 50, 1000), (5, 5), 0);
        assert_eq!(m.check(at(300), 2e6), None);
        // The estimate wobbles by under 5 %: nothing.
        assert_eq!(m.check(at(350), 1.95e6), None);
        // Every third packet lost: a signal carrying the delivered rate.
        feed(&mut m, t0, (250, 60, 1000), (5, 5), 3);
        let signal = m.check(at(600), 1.95e6).expect("loss signals");
        assert!(signal.delivered_bps.is_some());
        // Still lossy 100 ms later: the same event.
        feed(&mut m, t0, (550, 20, 1000), (5, 5), 3);
        assert_eq!(m.check(at(700), 1.9e6), None);
        // Loss over; the estimate then falls 10 % from its peak since the signal: a new one.
        feed(&mut m, t0, (650, 80, 1000), (5, 5), 0);
        assert_eq!(m.check(at(1000), 1.95e6), None);
        assert!(m.check(at(1100), 1.7e6).is_some());
        // A lower, steady estimate is the new reference.
        feed(&mut m, t0, (1050, 80, 1000), (5, 5), 0);
        assert_eq!(m.check(at(1500), 1.7e6), None);
    }

    #[test]
    fn old_packets_leave_the_window() {
        let t0 = Instant::now();
        let mut m = DeliveryMonitor::default();
        feed(&mut m, t0, (0, 100, 1000), (5, 5), 2); // lossy past
        feed(&mut m, t0, (2000, 100, 1000), (5, 5), 0); // clean present
        m.check(t0 + Duration::from_millis(2500), 1e6);
        assert_eq!(m.loss(), Some(0.0));
        assert!(m.window.len() <= 101);
    }

    #[test]
    fn a_queue_filling_signals_before_any_loss_and_once_while_it_drains() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut m = DeliveryMonitor::default();
        // 1000 B every 5 ms arriving every 5 ms: a steady 20 ms path.
        feed(&mut m, t0, (0, 40, 1000), (5, 5), 0);
        assert_eq!(m.check(at(220), 2e6), None);
        // Jitter: one packet 150 ms late is not a queue (the recent least is still 20 ms).
        m.record(Delivered {
            departure: at(200),
            size: 1000,
            arrival: Some(Duration::from_millis(370)),
        });
        feed(&mut m, t0, (205, 4, 1000), (5, 5), 0);
        assert_eq!(m.check(at(240), 2e6), None);
        // The cap drops: packets sent every 5 ms now arrive every 15 ms, nothing lost yet.
        // 16 packets in, the newest have queued 110 ms more: a signal, with the arrival rate.
        feed(&mut m, t0, (225, 16, 1000), (5, 15), 0);
        let signal = m.check(at(450), 2e6).expect("a growing queue signals");
        // The queued packets' rate (1000 B every 15 ms), not the window's (mostly at 5 ms).
        let delivered = signal.delivered_bps.expect("rate known");
        assert!(delivered.abs_diff(533_333) < 10_000, "{delivered} bit/s");
        // After the reaction the queue drains: packets sent every 20 ms still arrive every
        // 15 ms behind it (delays falling from 185 ms): no further event.
        for i in 0..20 {
            let arrival = Duration::from_millis(485 + i * 15);
            m.record(Delivered {
                departure: at(300 + i * 20),
                size: 300,
                arrival: Some(arrival),
            });
        }
        assert_eq!(m.check(at(800), 2e6), None);
    }
}
