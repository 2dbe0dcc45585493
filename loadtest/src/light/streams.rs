//! Per-SSRC reception counts from RTP sequence numbers alone (RFC 3550 §6.4.1 and A.3): the
//! extended highest sequence number, packets received, and loss as sequence numbers never seen;
//! and the receiver report blocks a browser would send from them.

use rtc::rtcp::reception_report::ReceptionReport;
use std::time::Instant;

/// One incoming stream.
#[derive(Debug, Clone)]
pub struct StreamCount {
    pub ssrc: u32,
    /// Extended (wrap-counting) first and highest sequence numbers.
    base: u32,
    highest: u32,
    pub received: u64,
    /// Times the sequence skipped ahead (each is one or more packets missing).
    pub gaps: u64,
    /// Arrivals of the highest sequence number again.
    pub duplicates: u64,
    /// At the last receiver report, for its fraction lost.
    expected_prior: u64,
    received_prior: u64,
    /// The middle 32 bits of the last sender report's NTP time, and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl StreamCount {
    fn new(ssrc: u32, seq: u16) -> Self {
        Self {
            ssrc,
            base: u32::from(seq),
            highest: u32::from(seq),
            received: 1,
            gaps: 0,
            duplicates: 0,
            expected_prior: 0,
            received_prior: 0,
            last_sr: None,
        }
    }

    fn record(&mut self, seq: u16) {
        let ahead = seq.wrapping_sub(self.highest as u16);
        match ahead {
            0 => {
                self.duplicates += 1;
                return;
            }
            1..0x8000 => {
                if ahead > 1 {
                    self.gaps += 1;
                }
                self.highest = self.highest.wrapping_add(u32::from(ahead));
            }
            // Late (reordered or repaired): received, the highest stays.
            _ => {}
        }
        self.received += 1;
    }

    pub fn expected(&self) -> u64 {
        u64::from(self.highest.wrapping_sub(self.base)) + 1
    }

    /// Sequence numbers between the first and the highest that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// The RFC 3550 report block on this stream at `now`; starts the next interval.
    fn report(&mut self, now: Instant) -> ReceptionReport {
        let expected = self.expected();
        let interval_expected = expected - self.expected_prior.min(expected);
        let interval_received = self.received - self.received_prior.min(self.received);
        let interval_lost = interval_expected.saturating_sub(interval_received);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let fraction_lost =
            ((interval_lost << 8).checked_div(interval_expected)).map_or(0, |f| f.min(255) as u8);
        let (last_sender_report, delay) = match self.last_sr {
            // DLSR in 1/65536 s.
            Some((ntp, at)) => (
                ntp,
                (now.saturating_duration_since(at).as_secs_f64() * 65536.0) as u32,
            ),
            None => (0, 0),
        };
        ReceptionReport {
            ssrc: self.ssrc,
            fraction_lost,
            total_lost: self.lost().min(0x7f_ffff) as u32,
            last_sequence_number: self.highest,
            jitter: 0,
            last_sender_report,
            delay,
        }
    }
}

/// Every stream one subscriber receives.
#[derive(Debug, Default)]
pub struct Streams {
    list: Vec<StreamCount>,
}

impl Streams {
    /// Counts an arrival of `seq` on `ssrc`.
    pub fn record(&mut self, ssrc: u32, seq: u16) {
        match self.list.iter_mut().find(|s| s.ssrc == ssrc) {
            Some(stream) => stream.record(seq),
            None => self.list.push(StreamCount::new(ssrc, seq)),
        }
    }

    /// A sender report for `ssrc` arrived at `at` (`ntp_time` is its 64-bit NTP timestamp).
    pub fn sender_report(&mut self, ssrc: u32, ntp_time: u64, at: Instant) {
        if let Some(stream) = self.list.iter_mut().find(|s| s.ssrc == ssrc) {
            stream.last_sr = Some(((ntp_time >> 16) as u32, at));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &StreamCount> {
        self.list.iter()
    }

    /// Report blocks for every stream (RFC 3550 allows 31 per report).
    pub fn reports(&mut self, now: Instant) -> Vec<ReceptionReport> {
        self.list
            .iter_mut()
            .take(31)
            .map(|s| s.report(now))
            .collect()
    }

    pub fn lost(&self) -> u64 {
        self.list.iter().map(StreamCount::lost).sum()
    }

    pub fn gaps(&self) -> u64 {
        self.list.iter().map(|s| s.gaps).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn loss_from_sequence_gaps() {
        let cases: &[(&[u16], u64, u64, u64, u32)] = &[
            // arrivals,                         received, lost, gaps, extended highest
            (&[10, 11, 12],                      3, 0, 0, 12),
            (&[10, 12, 13],                      3, 1, 1, 13),
            (&[10, 14],                          2, 3, 1, 14),
            (&[10, 12, 11],                      3, 0, 1, 12),     // late arrival fills the gap
            (&[10, 11, 11],                      2, 0, 0, 11),     // duplicate
            (&[65534, 65535, 0, 1],              4, 0, 0, 65537),  // wraps
            (&[65535, 1],                        2, 1, 1, 65537),
            (&[5, 4, 6],                         3, 0, 0, 6),      // first is not the lowest
        ];
        for &(arrivals, received, lost, gaps, highest) in cases {
            let mut streams = Streams::default();
            for &seq in arrivals {
                streams.record(7, seq);
            }
            let s = streams.iter().next().unwrap();
            assert_eq!((s.received, s.lost(), s.gaps, s.highest), (received, lost, gaps, highest), "{arrivals:?}");
        }
    }

    #[test]
    fn streams_are_counted_apart() {
        let mut streams = Streams::default();
        for seq in [1, 3, 4] {
            streams.record(1, seq);
        }
        for seq in [100, 101, 105] {
            streams.record(2, seq);
        }
        assert_eq!((streams.lost(), streams.gaps()), (1 + 3, 2));
    }

    #[test]
    fn receiver_reports_count_per_interval() {
        let now = Instant::now();
        let mut streams = Streams::default();
        for seq in [0, 1, 2, 3] {
            streams.record(9, seq);
        }
        streams.sender_report(9, 0x1122_3344_5566_7788, now);
        let first = streams.reports(now + std::time::Duration::from_millis(500));
        assert_eq!(
            (first[0].ssrc, first[0].fraction_lost, first[0].total_lost),
            (9, 0, 0)
        );
        assert_eq!(first[0].last_sender_report, 0x3344_5566);
        assert_eq!(first[0].delay, 32768, "half a second in 1/65536 s");
        // 4..=11 expected, 4 of them arrive: half lost in this interval.
        for seq in [4, 6, 8, 11] {
            streams.record(9, seq);
        }
        let second = streams.reports(now);
        assert_eq!(
            (
                second[0].fraction_lost,
                second[0].total_lost,
                second[0].last_sequence_number
            ),
            (128, 4, 11)
        );
    }
}
