//! What the chatters received, worked out from their event logs: send→receive latencies (the
//! message text is `t=<micros since the clock started>`), per-conversation order and duplicates,
//! percentiles, a log-scaled histogram and a per-second latency series.

use loadtest::chatter::Chatter;
use serde::Serialize;
use signaling::protocol::ServerMessage;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deliveries of the load's messages, and how their order looked to each chatter.
#[derive(Default)]
pub struct Received {
    /// Per first arrival: (sent at, since the clock started; send→receive latency).
    pub deliveries: Vec<(Duration, Duration)>,
    /// Arrivals with a seq lower than one the same chatter already had in that conversation.
    pub out_of_order: u64,
    /// Arrivals of a seq the same chatter already had in that conversation.
    pub duplicates: u64,
}

/// Goes through every chatter's events.
pub fn collect(chatters: &[Arc<Chatter>], clock: Instant) -> Received {
    let mut received = Received::default();
    for chatter in chatters {
        let mut order = OrderCheck::default();
        for (arrived, event) in chatter.events() {
            let ServerMessage::ChatMessage { message } = event else {
                continue;
            };
            if !order.arrive(&message.conversation, message.seq) {
                continue;
            }
            let Some(sent) = message.text.as_deref().and_then(sent_at) else {
                continue;
            };
            let latency = arrived.duration_since(clock).saturating_sub(sent);
            received.deliveries.push((sent, latency));
        }
        received.out_of_order += order.out_of_order;
        received.duplicates += order.duplicates;
    }
    received
}

/// The send time a load message carries (`t=<micros>`).
pub fn sent_at(text: &str) -> Option<Duration> {
    Some(Duration::from_micros(
        text.strip_prefix("t=")?.parse().ok()?,
    ))
}

/// One chatter's view of message order, per conversation.
#[derive(Default)]
pub struct OrderCheck {
    /// Conversation → (highest seq so far, every seq so far).
    seen: HashMap<String, (i64, HashSet<i64>)>,
    pub out_of_order: u64,
    pub duplicates: u64,
}

impl OrderCheck {
    /// Records an arrival; false if it was a duplicate.
    pub fn arrive(&mut self, conversation: &str, seq: i64) -> bool {
        let (highest, seqs) = self
            .seen
            .entry(conversation.to_owned())
            .or_insert_with(|| (i64::MIN, HashSet::new()));
        if !seqs.insert(seq) {
            self.duplicates += 1;
            return false;
        }
        if seq < *highest {
            self.out_of_order += 1;
        }
        *highest = (*highest).max(seq);
        true
    }
}

/// The value at fraction `p` of sorted values (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Milliseconds, for reports.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The usual percentiles of a latency distribution, in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p99_9_ms: f64,
    pub max_ms: f64,
    /// The exact p50, p99 and max, for the text lines that print `Duration`s.
    #[serde(skip)]
    pub exact: (Duration, Duration, Duration),
}

impl Percentiles {
    pub fn of(sorted: &[Duration]) -> Self {
        Self {
            count: sorted.len(),
            p50_ms: ms(percentile(sorted, 0.50)),
            p90_ms: ms(percentile(sorted, 0.90)),
            p99_ms: ms(percentile(sorted, 0.99)),
            p99_9_ms: ms(percentile(sorted, 0.999)),
            max_ms: ms(sorted.last().copied().unwrap_or_default()),
            exact: (
                percentile(sorted, 0.50),
                percentile(sorted, 0.99),
                sorted.last().copied().unwrap_or_default(),
            ),
        }
    }
}

/// Upper bounds of the histogram buckets, in ms; the last bucket has none.
const BOUNDS_MS: [u64; 11] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

/// One histogram bucket: latencies in [lower_ms, upper_ms).
#[derive(Clone, Debug, Serialize)]
pub struct Bucket {
    pub label: String,
    pub lower_ms: u64,
    /// `None` for the last, open bucket.
    pub upper_ms: Option<u64>,
    pub count: u64,
    pub percent: f64,
}

/// Which bucket a latency falls in.
pub fn bucket_index(latency: Duration) -> usize {
    BOUNDS_MS
        .iter()
        .position(|&bound| latency < Duration::from_millis(bound))
        .unwrap_or(BOUNDS_MS.len())
}

/// `<1 ms`, `1–2 ms`, `500 ms–1 s`, `1–2 s`, `>2 s`.
pub fn bucket_label(index: usize) -> String {
    let unit = |ms: u64| if ms >= 1000 { "s" } else { "ms" };
    let value = |ms: u64| if ms >= 1000 { ms / 1000 } else { ms };
    let show = |ms: u64| format!("{} {}", value(ms), unit(ms));
    match index {
        0 => format!("<{}", show(BOUNDS_MS[0])),
        i if i >= BOUNDS_MS.len() => format!(">{}", show(BOUNDS_MS[BOUNDS_MS.len() - 1])),
        i => {
            let (lower, upper) = (BOUNDS_MS[i - 1], BOUNDS_MS[i]);
            if unit(lower) == unit(upper) {
                format!("{}–{}", value(lower), show(upper))
            } else {
                format!("{}–{}", show(lower), show(upper))
            }
        }
    }
}

/// The log-scaled histogram of `latencies` (every bucket, empty ones too).
pub fn histogram(latencies: &[Duration]) -> Vec<Bucket> {
    let mut counts = [0u64; BOUNDS_MS.len() + 1];
    for &latency in latencies {
        counts[bucket_index(latency)] += 1;
    }
    let total = latencies.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &count)| Bucket {
            label: bucket_label(i),
            lower_ms: if i == 0 { 0 } else { BOUNDS_MS[i - 1] },
            upper_ms: BOUNDS_MS.get(i).copied(),
            count,
            percent: count as f64 * 100.0 / total,
        })
        .collect()
}

/// A bar of `#` for `count` out of `max`, at most `width` long; any non-zero count shows one.
pub fn bar(count: u64, max: u64, width: usize) -> String {
    if count == 0 || max == 0 {
        return String::new();
    }
    let len = (count as f64 / max as f64 * width as f64).round() as usize;
    "#".repeat(len.clamp(1, width))
}

/// Latency of the messages sent in one second of the run.
#[derive(Clone, Debug, Serialize)]
pub struct SecondLatency {
    /// Seconds since the clock started, rounded down, at send time.
    pub second: u64,
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Per second of send time, the p50, p99 and max send→receive latency; seconds without
/// deliveries are left out.
pub fn per_second(deliveries: &[(Duration, Duration)]) -> Vec<SecondLatency> {
    let mut by_second: BTreeMap<u64, Vec<Duration>> = BTreeMap::new();
    for &(sent, latency) in deliveries {
        by_second.entry(sent.as_secs()).or_default().push(latency);
    }
    by_second
        .into_iter()
        .map(|(second, mut latencies)| {
            latencies.sort();
            SecondLatency {
                second,
                count: latencies.len(),
                p50_ms: ms(percentile(&latencies, 0.50)),
                p99_ms: ms(percentile(&latencies, 0.99)),
                max_ms: ms(latencies[latencies.len() - 1]),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[rustfmt::skip]
    #[test]
    fn order_check_counts_late_and_repeated_seqs() {
        type Arrivals<'a> = &'a [(&'a str, i64)];
        let cases: &[(Arrivals, u64, u64)] = &[
            // arrivals                                   out of order, duplicates
            (&[],                                          0, 0),
            (&[("a", 1), ("a", 2), ("a", 3)],              0, 0),
            (&[("a", 1), ("a", 3), ("a", 2)],              1, 0),
            (&[("a", 3), ("a", 1), ("a", 2)],              2, 0),
            (&[("a", 1), ("a", 1)],                        0, 1),
            (&[("a", 2), ("b", 1), ("a", 3), ("b", 2)],    0, 0), // conversations are separate
            (&[("a", 2), ("b", 1), ("a", 1), ("a", 2)],    1, 1),
            (&[("a", 5), ("a", 7), ("a", 6), ("a", 6)],    1, 1),
        ];
        for &(arrivals, out_of_order, duplicates) in cases {
            let mut check = OrderCheck::default();
            for &(conversation, seq) in arrivals {
                check.arrive(conversation, seq);
            }
            assert_eq!((check.out_of_order, check.duplicates), (out_of_order, duplicates), "{arrivals:?}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn sent_at_parses_load_messages() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("t=0",        Some(Duration::ZERO)),
            ("t=1500000",  Some(Duration::from_millis(1500))),
            ("t=",         None),
            ("t=-3",       None),
            ("hello",      None),
        ];
        for &(text, expected) in cases {
            assert_eq!(sent_at(text), expected, "{text}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn percentiles_by_nearest_rank() {
        let hundred: Vec<Duration> = (1..=100).map(ms_d).collect();
        let cases: &[(&[Duration], f64, Duration)] = &[
            (&[],                   0.5,  Duration::ZERO),
            (&[ms_d(7)],            0.99, ms_d(7)),
            (&[ms_d(1), ms_d(9)],   0.5,  ms_d(9)),
            (&hundred[..],          0.5,  ms_d(51)),
            (&hundred[..],          0.99, ms_d(99)),
            (&hundred[..],          1.0,  ms_d(100)),
        ];
        for &(sorted, p, expected) in cases {
            assert_eq!(percentile(sorted, p), expected, "p{p} of {} values", sorted.len());
        }
    }

    #[rustfmt::skip]
    #[test]
    fn buckets_are_log_scaled() {
        let cases: &[(Duration, usize, &str)] = &[
            (Duration::ZERO,             0,  "<1 ms"),
            (Duration::from_micros(999), 0,  "<1 ms"),
            (ms_d(1),                    1,  "1–2 ms"),
            (ms_d(4),                    2,  "2–5 ms"),
            (ms_d(10),                   4,  "10–20 ms"),
            (ms_d(499),                  8,  "200–500 ms"),
            (ms_d(500),                  9,  "500 ms–1 s"),
            (ms_d(1999),                 10, "1–2 s"),
            (ms_d(2000),                 11, ">2 s"),
            (Duration::from_secs(60),    11, ">2 s"),
        ];
        for &(latency, index, label) in cases {
            assert_eq!(bucket_index(latency), index, "{latency:?}");
            assert_eq!(bucket_label(index), label, "{latency:?}");
        }
    }

    #[test]
    fn histogram_counts_every_latency_once() {
        let buckets = histogram(&[ms_d(0), ms_d(3), ms_d(3), ms_d(3000)]);
        assert_eq!(buckets.len(), 12);
        let counts: Vec<u64> = buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(buckets[2].percent, 50.0);
        assert_eq!((buckets[11].lower_ms, buckets[11].upper_ms), (2000, None));
    }

    #[rustfmt::skip]
    #[test]
    fn bars_scale_to_the_largest_bucket() {
        let cases: &[(u64, u64, usize, &str)] = &[
            (0,   10,  10, ""),
            (10,  10,  10, "##########"),
            (5,   10,  10, "#####"),
            (1,   1000, 10, "#"), // tiny but not empty
            (3,   0,   10, ""),
        ];
        for &(count, max, width, expected) in cases {
            assert_eq!(bar(count, max, width), expected, "{count}/{max}");
        }
    }

    #[test]
    fn per_second_groups_by_send_time() {
        let deliveries = [
            (ms_d(100), ms_d(2)),
            (ms_d(900), ms_d(4)),
            (ms_d(2500), ms_d(30)),
        ];
        let series = per_second(&deliveries);
        let rows: Vec<(u64, usize, f64, f64)> = series
            .iter()
            .map(|s| (s.second, s.count, s.p50_ms, s.max_ms))
            .collect();
        assert_eq!(rows, [(0, 2, 4.0, 4.0), (2, 1, 30.0, 30.0)]);
    }
}
