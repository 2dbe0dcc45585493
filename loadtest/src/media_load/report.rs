//! A media run's figures, as one serializable report (`--json`), and its text form.

use super::subscribers::Subscribers;
use super::{MediaArgs, Reading};
use crate::watch::procfs::ServerSample;
use crate::watch::server::cpu_percent;
use crate::watch::{bytes, per_connection};
use loadtest::light::Snapshot;
use serde::Serialize;

#[derive(Serialize)]
pub struct Report<'a> {
    pub scenario: &'static str,
    /// `light` (UDP), `light-tcp` (ICE-TCP) or `full` subscribers.
    pub subscriber_kind: &'static str,
    pub url: String,
    pub args: &'a MediaArgs,
    pub subscribers: usize,
    /// Connected at the end of the window.
    pub subscribers_connected: u64,
    /// From the first join until every subscriber connected (or the wait gave up).
    pub connect_seconds: f64,
    /// Packets the publishers sent during the window.
    pub published_packets: u64,
    pub window: Window,
    pub generator: Option<Generator>,
    pub server: Option<Server>,
    /// Each media worker of the server (datagrams from `/metrics`, CPU when watched).
    pub workers: Vec<super::workers::WorkerFigures>,
    /// The server's receive-to-send delay (from `/metrics`).
    pub forward_delay: Option<super::workers::ForwardDelay>,
    /// Packets a worker fanned out for another worker's publisher, per second (from
    /// `/metrics`; a room spread over workers).
    pub relayed_per_s: Option<f64>,
}

/// What the subscribers received during the window.
#[derive(Serialize)]
pub struct Window {
    pub seconds: f64,
    /// Counts over the window (`connected` is at its end).
    pub received: Snapshot,
    pub packets_per_s: f64,
    /// On the wire for light subscribers (SRTP), payload bytes for full ones.
    pub mbit_per_s: f64,
    /// Lost / (received + lost), in %.
    pub loss_percent: f64,
}

/// This process's CPU during the window.
#[derive(Serialize)]
pub struct Generator {
    pub cpu_percent_of_core: f64,
    pub cpu_us_per_packet: Option<f64>,
}

/// The server's CPU and memory, when it could be watched.
#[derive(Serialize)]
pub struct Server {
    pub pid: u32,
    pub cpu_percent_of_core: Option<f64>,
    /// `parley_forwarded_packets_total` over the window (all legs, publishers' included).
    pub forwarded_packets: Option<u64>,
    pub forwarded_per_s: Option<f64>,
    /// Server CPU over the window / packets forwarded (received ones if /metrics was not read).
    pub cpu_us_per_forwarded_packet: Option<f64>,
    /// Before the subscribers joined, and at the end of the window.
    pub rss_before_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    /// (RSS at the end − RSS before) / subscribers.
    pub rss_per_subscriber_bytes: Option<f64>,
}

fn difference(end: &Snapshot, start: &Snapshot) -> Snapshot {
    Snapshot {
        connected: end.connected,
        packets: end.packets.saturating_sub(start.packets),
        bytes: end.bytes.saturating_sub(start.bytes),
        lost: end.lost.saturating_sub(start.lost),
        gaps: end.gaps.saturating_sub(start.gaps),
        malformed: end.malformed.saturating_sub(start.malformed),
        control: end.control.saturating_sub(start.control),
        twcc_feedbacks: end.twcc_feedbacks.saturating_sub(start.twcc_feedbacks),
        receiver_reports: end.receiver_reports.saturating_sub(start.receiver_reports),
        offers_answered: end.offers_answered.saturating_sub(start.offers_answered),
    }
}

/// What a run measured, for [`Report::new`].
pub struct Measured<'r> {
    pub connect_seconds: f64,
    /// Packets the publishers sent during the window.
    pub published_packets: u64,
    /// Readings at the window's start and end.
    pub start: &'r Reading,
    pub end: &'r Reading,
    /// The watched server's pid, and its reading before the subscribers joined.
    pub server_pid: Option<u32>,
    pub server_before: Option<ServerSample>,
}

impl<'a> Report<'a> {
    pub fn new(
        args: &'a MediaArgs,
        url: &str,
        subscribers: &Subscribers,
        measured: &Measured<'_>,
    ) -> Self {
        let window = window(measured.start, measured.end);
        let relayed_per_s = measured
            .end
            .scrape
            .relayed
            .zip(measured.start.scrape.relayed)
            .map(|(end, start)| end.saturating_sub(start) as f64 / window.seconds);
        let workers = super::workers::figures(
            (&measured.start.scrape, &measured.end.scrape),
            (&measured.start.worker_cpu_s, &measured.end.worker_cpu_s),
            window.seconds,
        );
        let generator = generator(measured.start, measured.end, &window);
        let server = measured
            .server_pid
            .map(|pid| server(pid, measured, &window, subscribers.len()));
        Self {
            scenario: "media",
            subscriber_kind: match (args.light, args.tcp) {
                (true, true) => "light-tcp",
                (true, false) => "light",
                (false, _) => "full",
            },
            url: url.to_owned(),
            args,
            subscribers: subscribers.len(),
            subscribers_connected: measured.end.received.connected,
            connect_seconds: measured.connect_seconds,
            published_packets: measured.published_packets,
            window,
            generator,
            server,
            workers,
            forward_delay: super::workers::forward_delay(
                &measured.start.scrape,
                &measured.end.scrape,
            ),
            relayed_per_s,
        }
    }

    pub fn print(&self, args: &MediaArgs) {
        println!(
            "media ({} subscribers): {} room(s), {} publishers per room, {} subscribers ({} connected; joined and connected in {:.1} s)",
            self.subscriber_kind,
            args.rooms,
            args.publishers,
            self.subscribers,
            self.subscribers_connected,
            self.connect_seconds
        );
        {
            let w = &self.window;
            let r = &w.received;
            println!(
                "  received in {:.1} s: {:.0} packets/s, {:.2} Mbit/s; lost {} ({:.2} %) in {} gaps; publishers sent {}",
                w.seconds, w.packets_per_s, w.mbit_per_s, r.lost, w.loss_percent, r.gaps, self.published_packets
            );
            if args.light {
                println!(
                    "  RTCP sent: {} TWCC feedbacks, {} receiver reports; {} STUN/DTLS/RTCP datagrams to the connections, {} malformed",
                    r.twcc_feedbacks, r.receiver_reports, r.control, r.malformed
                );
            } else if r.malformed > 0 {
                println!("  corrupted payloads: {}", r.malformed);
            }
        }
        if let Some(g) = &self.generator {
            println!(
                "  generator: {:.1} % of one core ({} per packet)",
                g.cpu_percent_of_core,
                g.cpu_us_per_packet
                    .map_or("n/a".to_owned(), |us| format!("{us:.2} µs"))
            );
        }
        match &self.server {
            Some(s) => {
                let or_na = |v: Option<String>| v.unwrap_or_else(|| "n/a".to_owned());
                println!(
                    "  server (pid {}): {} of one core, {} forwarded packets/s, {} per forwarded packet",
                    s.pid,
                    or_na(s.cpu_percent_of_core.map(|p| format!("{p:.1} %"))),
                    or_na(s.forwarded_per_s.map(|f| format!("{f:.0}"))),
                    or_na(s.cpu_us_per_forwarded_packet.map(|us| format!("{us:.2} µs"))),
                );
                println!(
                    "  server RSS: {} before the subscribers, {} at the end = {} per subscriber connection",
                    or_na(s.rss_before_bytes.map(|b| bytes(b as f64))),
                    or_na(s.rss_end_bytes.map(|b| bytes(b as f64))),
                    or_na(s.rss_per_subscriber_bytes.map(bytes)),
                );
            }
            None => println!("  server: not watched (no CPU/RSS figures)"),
        }
        if let Some(d) = &self.forward_delay {
            println!(
                "  server receive → last send, per datagram: p50 ≤ {} ms, p99 ≤ {} ms ({} datagrams)",
                d.p50_at_most_ms, d.p99_at_most_ms, d.datagrams
            );
        }
        if let Some(relayed) = self.relayed_per_s.filter(|r| *r > 0.0) {
            println!("  relayed between workers (rooms spread over them): {relayed:.0} packets/s");
        }
        for w in &self.workers {
            let or_na = |v: Option<String>| v.unwrap_or_else(|| "n/a".to_owned());
            println!(
                "  media worker {}: {} datagrams/s sent, {} of one core",
                w.worker,
                or_na(w.sent_datagrams_per_s.map(|r| format!("{r:.0}"))),
                or_na(w.cpu_percent_of_core.map(|p| format!("{p:.1} %"))),
            );
        }
    }
}

fn window(start: &Reading, end: &Reading) -> Window {
    let seconds = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
    let received = difference(&end.received, &start.received);
    let offered = received.packets + received.lost;
    Window {
        seconds,
        received,
        packets_per_s: received.packets as f64 / seconds,
        mbit_per_s: received.bytes as f64 * 8.0 / seconds / 1e6,
        loss_percent: if offered == 0 {
            0.0
        } else {
            received.lost as f64 * 100.0 / offered as f64
        },
    }
}

fn generator(start: &Reading, end: &Reading, window: &Window) -> Option<Generator> {
    let cpu_s = end.generator_cpu_s? - start.generator_cpu_s?;
    let packets = window.received.packets;
    Some(Generator {
        cpu_percent_of_core: cpu_s / window.seconds * 100.0,
        cpu_us_per_packet: (packets > 0).then(|| cpu_s * 1e6 / packets as f64),
    })
}

fn server(pid: u32, measured: &Measured<'_>, window: &Window, subscribers: usize) -> Server {
    let (start, end) = (measured.start, measured.end);
    let forwarded = end
        .scrape
        .forwarded
        .zip(start.scrape.forwarded)
        .map(|(b, a)| b.saturating_sub(a));
    let cpu = start.server.zip(end.server);
    let per_packet = forwarded.unwrap_or(window.received.packets);
    let rss_before_bytes = measured.server_before.map(|s| s.rss_bytes);
    let rss_end_bytes = end.server.map(|s| s.rss_bytes);
    Server {
        pid,
        cpu_percent_of_core: cpu.and_then(|(a, b)| cpu_percent(&a, &b)),
        forwarded_packets: forwarded,
        forwarded_per_s: forwarded.map(|f| f as f64 / window.seconds),
        cpu_us_per_forwarded_packet: cpu
            .filter(|_| per_packet > 0)
            .map(|(a, b)| (b.cpu_s - a.cpu_s) * 1e6 / per_packet as f64),
        rss_before_bytes,
        rss_end_bytes,
        rss_per_subscriber_bytes: rss_before_bytes
            .zip(rss_end_bytes)
            .map(|(a, b)| per_connection(a, b, subscribers)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn reading(at: Instant, packets: u64, lost: u64, cpu_s: f64, forwarded: u64) -> Reading {
        Reading {
            at,
            received: Snapshot {
                connected: 3,
                packets,
                bytes: packets * 1000,
                lost,
                ..Snapshot::default()
            },
            server: Some(ServerSample {
                t_s: 0.0,
                cpu_s,
                rss_bytes: 50 << 20,
            }),
            generator_cpu_s: Some(cpu_s / 10.0),
            scrape: super::super::workers::Scrape {
                forwarded: Some(forwarded),
                ..Default::default()
            },
            worker_cpu_s: Default::default(),
        }
    }

    #[test]
    fn figures_over_the_window() {
        let t0 = Instant::now();
        let start = reading(t0, 1_000, 0, 10.0, 5_000);
        let end = reading(t0 + Duration::from_secs(10), 101_000, 100, 12.0, 105_000);
        let measured = Measured {
            connect_seconds: 1.0,
            published_packets: 0,
            start: &start,
            end: &end,
            server_pid: Some(7),
            server_before: Some(ServerSample {
                t_s: 0.0,
                cpu_s: 0.0,
                rss_bytes: 40 << 20,
            }),
        };
        let w = window(&start, &end);
        assert_eq!((w.packets_per_s, w.mbit_per_s), (10_000.0, 80.0));
        assert!((w.loss_percent - 100.0 / 1001.0).abs() < 1e-9);
        let g = generator(&start, &end, &w).unwrap();
        assert!(
            (g.cpu_us_per_packet.unwrap() - 2.0).abs() < 1e-9,
            "0.2 s for 100,000"
        );
        let s = server(7, &measured, &w, 100);
        assert_eq!(s.forwarded_per_s, Some(10_000.0));
        assert!((s.cpu_us_per_forwarded_packet.unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(s.rss_per_subscriber_bytes, Some((10 << 20) as f64 / 100.0));
    }
}
