//! What the server's media workers did during the window: datagrams each sent (its
//! `parley_media_worker_sent_datagrams_total{worker}` on `/metrics`) and, when the server runs
//! here, each worker thread's CPU (`/proc/<pid>/task/*`, threads named `media-<index>`). The
//! same command on a bigger machine shows how throughput spreads over more workers.

use serde::Serialize;
use std::collections::BTreeMap;

/// What `/metrics` says at one moment.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scrape {
    /// `parley_forwarded_packets_total`.
    pub forwarded: Option<u64>,
    /// `parley_relayed_packets_total`: packets fanned out by a worker other than their
    /// publisher's (a room spread over workers).
    pub relayed: Option<u64>,
    /// Datagrams sent per worker index.
    pub worker_sent: BTreeMap<usize, u64>,
    /// `parley_media_forward_delay_seconds` buckets: (upper bound in seconds, cumulative count).
    pub forward_delay: Vec<(f64, u64)>,
}

const DELAY_BUCKET: &str = "parley_media_forward_delay_seconds_bucket{le=\"";

const SENT: &str = "parley_media_worker_sent_datagrams_total{worker=\"";

impl Scrape {
    pub fn parse(text: &str) -> Self {
        let mut scrape = Self::default();
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("parley_forwarded_packets_total ") {
                scrape.forwarded = value.trim().parse::<f64>().ok().map(|v| v as u64);
            } else if let Some(value) = line.strip_prefix("parley_relayed_packets_total ") {
                scrape.relayed = value.trim().parse::<f64>().ok().map(|v| v as u64);
            } else if let Some(rest) = line.strip_prefix(DELAY_BUCKET) {
                let parsed = rest.split_once("\"} ").and_then(|(le, count)| {
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().ok()?
                    };
                    Some((le, count.trim().parse::<f64>().ok()? as u64))
                });
                scrape.forward_delay.extend(parsed);
            } else if let Some(rest) = line.strip_prefix(SENT) {
                let parsed = rest.split_once("\"} ").and_then(|(worker, value)| {
                    Some((
                        worker.parse().ok()?,
                        value.trim().parse::<f64>().ok()? as u64,
                    ))
                });
                if let Some((worker, sent)) = parsed {
                    scrape.worker_sent.insert(worker, sent);
                }
            }
        }
        scrape
    }
}

/// The server's receive-to-send delay over the window (per datagram that caused sends, to the
/// last of them): the bucket bounds the median and the 99th percentile fall under.
#[derive(Debug, Serialize, PartialEq)]
pub struct ForwardDelay {
    pub datagrams: u64,
    pub p50_at_most_ms: f64,
    pub p99_at_most_ms: f64,
}

/// The delay quantiles between two scrapes (`None` without datagrams in between).
pub fn forward_delay(start: &Scrape, end: &Scrape) -> Option<ForwardDelay> {
    let counts: Vec<(f64, u64)> = end
        .forward_delay
        .iter()
        .map(|&(le, n)| {
            let before = start
                .forward_delay
                .iter()
                .find(|(l, _)| *l == le)
                .map_or(0, |b| b.1);
            (le, n.saturating_sub(before))
        })
        .collect();
    let total = counts.last()?.1;
    if total == 0 {
        return None;
    }
    let at_most = |q: f64| {
        let wanted = (q * total as f64).ceil() as u64;
        counts
            .iter()
            .find(|(_, n)| *n >= wanted)
            .map_or(f64::INFINITY, |(le, _)| le * 1e3)
    };
    Some(ForwardDelay {
        datagrams: total,
        p50_at_most_ms: at_most(0.5),
        p99_at_most_ms: at_most(0.99),
    })
}

/// One worker over the window.
#[derive(Debug, Serialize, PartialEq)]
pub struct WorkerFigures {
    pub worker: usize,
    pub sent_datagrams_per_s: Option<f64>,
    pub cpu_percent_of_core: Option<f64>,
}

/// Per-worker figures between two readings of `/metrics` and of the worker threads' CPU
/// seconds (by index), `seconds` apart.
pub fn figures(
    (start, end): (&Scrape, &Scrape),
    (cpu_start, cpu_end): (&BTreeMap<usize, f64>, &BTreeMap<usize, f64>),
    seconds: f64,
) -> Vec<WorkerFigures> {
    let workers: std::collections::BTreeSet<usize> = end
        .worker_sent
        .keys()
        .chain(cpu_end.keys())
        .copied()
        .collect();
    workers
        .into_iter()
        .map(|worker| {
            let rate = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) / seconds);
            let sent = |s: &Scrape| s.worker_sent.get(&worker).map(|&v| v as f64);
            WorkerFigures {
                worker,
                sent_datagrams_per_s: rate(sent(start), sent(end)),
                cpu_percent_of_core: rate(
                    cpu_start.get(&worker).copied(),
                    cpu_end.get(&worker).copied(),
                )
                .map(|share| share * 100.0),
            }
        })
        .collect()
}

/// Worker thread CPU seconds by index, from `(name, seconds)` pairs named `media-<index>`.
pub fn by_index(threads: Vec<(String, f64)>) -> BTreeMap<usize, f64> {
    threads
        .into_iter()
        .filter_map(|(name, cpu)| Some((name.strip_prefix("media-")?.parse().ok()?, cpu)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forwarded_packets_and_each_workers_datagrams() {
        let text = "# HELP x\n\
            parley_forwarded_packets_total 1500\n\
            parley_relayed_packets_total 250\n\
            parley_media_worker_sent_datagrams_total{worker=\"0\"} 700\n\
            parley_media_worker_sent_datagrams_total{worker=\"1\"} 9e2\n\
            parley_media_worker_participants{worker=\"1\"} 3\n";
        let scrape = Scrape::parse(text);
        assert_eq!(scrape.forwarded, Some(1500));
        assert_eq!(scrape.relayed, Some(250));
        assert_eq!(scrape.worker_sent, BTreeMap::from([(0, 700), (1, 900)]));
    }

    #[test]
    fn delay_quantiles_over_the_window_from_the_histogram() {
        let text = |counts: [u64; 4]| {
            format!(
                "parley_media_forward_delay_seconds_bucket{{le=\"0.0001\"}} {}\n\
                 parley_media_forward_delay_seconds_bucket{{le=\"0.001\"}} {}\n\
                 parley_media_forward_delay_seconds_bucket{{le=\"0.01\"}} {}\n\
                 parley_media_forward_delay_seconds_bucket{{le=\"+Inf\"}} {}\n",
                counts[0], counts[1], counts[2], counts[3]
            )
        };
        let start = Scrape::parse(&text([10, 10, 10, 10]));
        // 1000 datagrams in the window: 600 under 100 µs, 395 more under 1 ms, 5 under 10 ms.
        let end = Scrape::parse(&text([610, 1005, 1010, 1010]));
        assert_eq!(
            forward_delay(&start, &end),
            Some(ForwardDelay {
                datagrams: 1000,
                p50_at_most_ms: 0.1,
                p99_at_most_ms: 1.0
            })
        );
        assert_eq!(forward_delay(&end, &end), None);
    }

    #[test]
    fn per_worker_rates_over_the_window() {
        let start = Scrape {
            forwarded: None,
            worker_sent: BTreeMap::from([(0, 100), (1, 0)]),
            ..Scrape::default()
        };
        let end = Scrape {
            forwarded: None,
            worker_sent: BTreeMap::from([(0, 1100), (1, 2000)]),
            ..Scrape::default()
        };
        let cpu_start = by_index(vec![
            ("media-0".into(), 1.0),
            ("media-1".into(), 2.0),
            ("tokio-1".into(), 9.0),
        ]);
        let cpu_end = by_index(vec![("media-0".into(), 2.0), ("media-1".into(), 3.5)]);
        let figures = figures((&start, &end), (&cpu_start, &cpu_end), 2.0);
        assert_eq!(
            figures,
            vec![
                WorkerFigures {
                    worker: 0,
                    sent_datagrams_per_s: Some(500.0),
                    cpu_percent_of_core: Some(50.0)
                },
                WorkerFigures {
                    worker: 1,
                    sent_datagrams_per_s: Some(1000.0),
                    cpu_percent_of_core: Some(75.0)
                },
            ]
        );
    }
}
