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
    /// Datagrams sent per worker index.
    pub worker_sent: BTreeMap<usize, u64>,
}

const SENT: &str = "parley_media_worker_sent_datagrams_total{worker=\"";

impl Scrape {
    pub fn parse(text: &str) -> Self {
        let mut scrape = Self::default();
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("parley_forwarded_packets_total ") {
                scrape.forwarded = value.trim().parse::<f64>().ok().map(|v| v as u64);
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
            parley_media_worker_sent_datagrams_total{worker=\"0\"} 700\n\
            parley_media_worker_sent_datagrams_total{worker=\"1\"} 9e2\n\
            parley_media_worker_participants{worker=\"1\"} 3\n";
        let scrape = Scrape::parse(text);
        assert_eq!(scrape.forwarded, Some(1500));
        assert_eq!(scrape.worker_sent, BTreeMap::from([(0, 700), (1, 900)]));
    }

    #[test]
    fn per_worker_rates_over_the_window() {
        let start = Scrape {
            forwarded: None,
            worker_sent: BTreeMap::from([(0, 100), (1, 0)]),
        };
        let end = Scrape {
            forwarded: None,
            worker_sent: BTreeMap::from([(0, 1100), (1, 2000)]),
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
