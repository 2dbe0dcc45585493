//! Everything a run measured, as one serializable report (`--json`), and its text form.

use super::stats::{bar, Bucket, Percentiles, SecondLatency};
use super::ChatArgs;
use crate::watch::procfs::ServerSample;
use crate::watch::{bytes, per_connection};
use serde::Serialize;

/// One run of `parley-loadtest chat` (with or without `--idle`).
#[derive(Serialize)]
pub struct Report {
    /// `chat` (sending) or `idle` (connections only).
    pub scenario: &'static str,
    pub url: String,
    pub args: ChatArgs,
    /// This process's open-file soft limit after raising it.
    pub open_file_limit: Option<u64>,
    /// How long connecting every chatter (hello included) took.
    pub connect_seconds: f64,
    /// The chat scenario's message figures.
    pub chat: Option<ChatFigures>,
    /// The idle scenario's figures.
    pub idle: Option<IdleFigures>,
    /// The server process's CPU and memory, when it could be watched.
    pub server: Option<ServerFigures>,
}

/// Messages sent and received in the chat scenario.
#[derive(Serialize)]
pub struct ChatFigures {
    pub acked: u64,
    pub acked_per_s: f64,
    /// Sends refused (after retries) or failed.
    pub failed: u64,
    /// First arrivals of load messages at the other members.
    pub delivered: u64,
    /// Acked messages times the mean number of other members per group.
    pub expected: u64,
    pub delivered_per_s: f64,
    /// Per chatter and conversation: arrivals with a lower seq than one already received.
    pub out_of_order: u64,
    /// Per chatter and conversation: arrivals of a seq already received.
    pub duplicates: u64,
    pub send_to_receive: Percentiles,
    pub send_to_ack: Percentiles,
    /// The send→receive latency histogram, log-scaled buckets.
    pub histogram: Vec<Bucket>,
    /// Send→receive latency per second of send time.
    pub latency_per_second: Vec<SecondLatency>,
}

/// The idle scenario: connections that sit.
#[derive(Serialize)]
pub struct IdleFigures {
    pub idle_seconds: u64,
    /// Connections the server had not closed when the idle period ended.
    pub connections_open_at_end: usize,
}

/// The server process during the run.
#[derive(Serialize)]
pub struct ServerFigures {
    pub pid: u32,
    /// Readings at the phases of the run, in order: `before` (connecting), `idle` (all said
    /// hello and the groups exist), then `busy` (end of sending) and `drained` (deliveries
    /// landed) for chat, or `idle_end` for the idle scenario.
    pub phases: Vec<Phase>,
    /// The chat scenario's CPU figures.
    pub cpu: Option<CpuFigures>,
    /// The once-per-second readings.
    pub samples: Vec<ServerSample>,
}

/// A reading of the server at one point of the run.
#[derive(Serialize)]
pub struct Phase {
    pub name: &'static str,
    pub sample: ServerSample,
    /// (RSS now − RSS before connecting) / connections; absent for `before` itself.
    pub memory_per_connection_bytes: Option<f64>,
}

/// The server's CPU use while the chatters sent.
#[derive(Serialize)]
pub struct CpuFigures {
    /// Wall time between the readings at the start and the end of sending.
    pub sending_seconds: f64,
    pub cpu_seconds_sending: f64,
    /// `cpu_seconds_sending / sending_seconds`, in % of one core.
    pub cpu_percent_of_core: f64,
    /// CPU seconds from the start of sending until the last deliveries landed.
    pub cpu_seconds_with_drain: f64,
    /// `cpu_seconds_with_drain` / deliveries, in µs.
    pub cpu_us_per_delivery: Option<f64>,
}

impl ServerFigures {
    /// Phases from named readings (missing ones skipped), memory counted from `before`.
    pub fn new(
        pid: u32,
        readings: &[(&'static str, Option<ServerSample>)],
        connections: usize,
        samples: Vec<ServerSample>,
    ) -> Self {
        let before = readings.iter().find(|(n, _)| *n == "before");
        let before_rss = before.and_then(|(_, s)| s.map(|s| s.rss_bytes));
        let phases = readings
            .iter()
            .filter_map(|&(name, sample)| {
                let sample = sample?;
                let memory_per_connection_bytes = before_rss
                    .filter(|_| name != "before")
                    .map(|b| per_connection(b, sample.rss_bytes, connections));
                Some(Phase {
                    name,
                    sample,
                    memory_per_connection_bytes,
                })
            })
            .collect();
        Self {
            pid,
            phases,
            cpu: None,
            samples,
        }
    }

    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
}

impl CpuFigures {
    /// From the readings at the start and end of sending and after the drain.
    pub fn new(
        start: &ServerSample,
        end: &ServerSample,
        drained: &ServerSample,
        deliveries: u64,
    ) -> Self {
        let sending_seconds = end.t_s - start.t_s;
        let cpu_seconds_sending = end.cpu_s - start.cpu_s;
        let cpu_seconds_with_drain = drained.cpu_s - start.cpu_s;
        Self {
            sending_seconds,
            cpu_seconds_sending,
            cpu_percent_of_core: if sending_seconds > 0.0 {
                cpu_seconds_sending / sending_seconds * 100.0
            } else {
                0.0
            },
            cpu_seconds_with_drain,
            cpu_us_per_delivery: (deliveries > 0)
                .then(|| cpu_seconds_with_drain * 1e6 / deliveries as f64),
        }
    }
}

/// The text report.
pub fn print(report: &Report) {
    let args = &report.args;
    if let Some(chat) = &report.chat {
        print_chat(args, chat);
    }
    if let Some(idle) = &report.idle {
        println!(
            "chat idle: {} connections, {} conversations, {} s without sending",
            args.connections, args.conversations, idle.idle_seconds
        );
        println!(
            "  connections still open at the end: {} of {}",
            idle.connections_open_at_end, args.connections
        );
    }
    println!(
        "  connected in {:.1} s ({:.0} connections/s); open-file limit {}",
        report.connect_seconds,
        args.connections as f64 / report.connect_seconds.max(1e-9),
        report
            .open_file_limit
            .map_or("unknown".to_owned(), |l| l.to_string())
    );
    match &report.server {
        Some(server) => print_server(server),
        None => println!("  server: not watched (no CPU/RSS figures)"),
    }
}

fn print_chat(args: &ChatArgs, chat: &ChatFigures) {
    let seconds = args.seconds as f64;
    let s = &chat.send_to_receive;
    let ack = &chat.send_to_ack;
    println!(
        "chat load: {} connections, {} conversations, one message per {} ms each, {} s",
        args.connections, args.conversations, args.interval_ms, args.seconds
    );
    println!(
        "  sent (acked): {} ({:.0}/s), refused or failed: {}",
        chat.acked, chat.acked_per_s, chat.failed
    );
    println!(
        "  delivered: {} of about {} expected ({:.0}/s)",
        chat.delivered, chat.expected, chat.delivered_per_s
    );
    println!(
        "  send→receive latency: p50 {:?}, p99 {:?}, max {:?}",
        s.exact.0, s.exact.1, s.exact.2
    );
    println!(
        "  send→ack latency: p50 {:?}, p99 {:?}",
        ack.exact.0, ack.exact.1
    );
    println!(
        "  order per chatter and conversation: {} out of order, {} duplicates",
        chat.out_of_order, chat.duplicates
    );
    println!(
        "  send→receive percentiles (ms): p50 {:.2}, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ({} deliveries in {seconds} s)",
        s.p50_ms, s.p90_ms, s.p99_ms, s.p99_9_ms, s.max_ms, s.count
    );
    println!("  send→receive latency histogram:");
    let max = chat.histogram.iter().map(|b| b.count).max().unwrap_or(0);
    for bucket in &chat.histogram {
        println!(
            "    {:>11} {:>10} {:>6.2}% {}",
            bucket.label,
            bucket.count,
            bucket.percent,
            bar(bucket.count, max, 50)
        );
    }
}

fn print_server(server: &ServerFigures) {
    let rss = |name: &str| server.phase(name).map(|p| p.sample.rss_bytes as f64);
    let phases: Vec<String> = server
        .phases
        .iter()
        .map(|p| format!("{} {}", p.name, bytes(p.sample.rss_bytes as f64)))
        .collect();
    println!("  server (pid {}) RSS: {}", server.pid, phases.join(", "));
    let per_connection: Vec<String> = server
        .phases
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{} {}",
                p.name,
                bytes(p.memory_per_connection_bytes?)
            ))
        })
        .collect();
    if !per_connection.is_empty() {
        println!(
            "  server memory per connection (RSS growth since before / connections): {}",
            per_connection.join(", ")
        );
    }
    if let (Some(start), Some(end)) = (rss("idle"), rss("idle_end")) {
        println!(
            "  server RSS growth over the idle period: {}",
            bytes(end - start)
        );
    }
    if let Some(cpu) = &server.cpu {
        println!(
            "  server CPU: {:.2} s in {:.1} s of sending ({:.1}% of one core); {:.2} s with the drain = {} per delivery",
            cpu.cpu_seconds_sending,
            cpu.sending_seconds,
            cpu.cpu_percent_of_core,
            cpu.cpu_seconds_with_drain,
            cpu.cpu_us_per_delivery
                .map_or("n/a".to_owned(), |us| format!("{us:.1} µs"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_s: f64, cpu_s: f64, rss_bytes: u64) -> ServerSample {
        ServerSample {
            t_s,
            cpu_s,
            rss_bytes,
        }
    }

    #[test]
    fn cpu_per_delivery_counts_the_drain() {
        let cpu = CpuFigures::new(
            &at(1.0, 2.0, 0),
            &at(11.0, 7.0, 0),
            &at(13.0, 7.5, 0),
            1_000_000,
        );
        assert_eq!(cpu.sending_seconds, 10.0);
        assert_eq!(cpu.cpu_seconds_sending, 5.0);
        assert_eq!(cpu.cpu_percent_of_core, 50.0);
        assert_eq!(cpu.cpu_seconds_with_drain, 5.5);
        assert_eq!(cpu.cpu_us_per_delivery, Some(5.5));
        let none = CpuFigures::new(&at(1.0, 2.0, 0), &at(1.0, 2.0, 0), &at(1.0, 2.0, 0), 0);
        assert_eq!(
            (none.cpu_percent_of_core, none.cpu_us_per_delivery),
            (0.0, None)
        );
    }

    #[test]
    fn phases_count_memory_from_before() {
        let server = ServerFigures::new(
            7,
            &[
                ("before", Some(at(0.0, 0.0, 1000))),
                ("idle", Some(at(1.0, 0.0, 3000))),
                ("busy", None),
            ],
            10,
            Vec::new(),
        );
        let rows: Vec<(&str, Option<f64>)> = server
            .phases
            .iter()
            .map(|p| (p.name, p.memory_per_connection_bytes))
            .collect();
        assert_eq!(rows, [("before", None), ("idle", Some(200.0))]);
    }
}
