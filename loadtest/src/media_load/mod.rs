//! The media scenario: publishers of synthetic audio and video and subscribers in one room.
//! Subscribers are today's full synthetic clients (every payload decrypted and checked) or, with
//! `--light`, light subscribers (`loadtest::light`: real ICE, DTLS-SRTP and RTCP feedback,
//! media counted without decrypting it, hundreds per task) that can drive a server to
//! saturation from one core. After everyone joined and connected, a window of `--seconds`
//! measures packets/s, Mbit/s and loss received, this generator's CPU, and, when the server runs
//! on this machine, its CPU per forwarded packet and RSS per subscriber (see [`crate::watch`]).

mod report;
mod subscribers;
mod workers;

use crate::watch::procfs::{Probe, ServerSample};
use crate::watch::server::{watch_server, ServerMonitor};
use crate::Tokens;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use loadtest::light::Snapshot;
use loadtest::{Publication, SyntheticClient};
use report::{Measured, Report};
use serde::Serialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subscribers::Subscribers;

/// How long subscribers get to connect, and then to settle (first keyframes, layer choice)
/// before the window opens.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
const SETTLE: Duration = Duration::from_secs(2);

// What to run; echoed as `args` in the JSON report. (No doc comment: clap would show it
// instead of the subcommand's.)
#[derive(clap::Args, Serialize)]
#[command(after_help = "\
Subscribers are full synthetic clients (async webrtc: every payload decrypted and checked) or,
with --light, light subscribers: the same signaling, ICE and DTLS-SRTP as a browser, and
browser-like RTCP (transport-wide congestion control feedback every 100 ms, receiver reports
every second), but media is counted from the clear RTP header without being decrypted, and
hundreds of subscribers share one task (--light-tasks), reading their sockets with epoll and
recvmmsg: about 2.2 µs of generator CPU per packet received, 400,000+ packets/s per core.

The run prints packets/s, Mbit/s and loss received over a window of --seconds once every
subscriber connected, this generator's CPU, and when the server is on this machine (found by
the URL's port, or --server-pid) its CPU per forwarded packet and RSS per subscriber; --json
writes every figure.")]
pub struct MediaArgs {
    #[arg(long, default_value = "loadtest")]
    pub room: String,
    /// Rooms to run the scenario in at once (`<room>-0`, `<room>-1`, …), each with its own
    /// publishers and subscribers: a server with several media workers places them apart.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Participants that publish audio + video (full synthetic clients), per room.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Participants that only subscribe, per room.
    #[arg(long, default_value_t = 2)]
    pub subscribers: usize,
    /// How long to measure, in seconds, once every subscriber connected.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Light subscribers: count media without decrypting it, many per task.
    #[arg(long)]
    pub light: bool,
    /// Light subscribers connect over ICE-TCP (to the server's TCP port) instead of UDP.
    #[arg(long, requires = "light")]
    pub tcp: bool,
    /// Tasks the light subscribers are spread over (each can use up to one core).
    #[arg(long, default_value_t = 1, requires = "light")]
    pub light_tasks: usize,
    /// Subscribers joining at once.
    #[arg(long, default_value_t = 16)]
    pub connect_concurrency: usize,
    /// The server's process id, for its CPU and RSS (default: the process listening on the
    /// URL's port, when the URL is a loopback address).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Write every figure as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// One reading of everything the report compares between the window's start and end.
pub struct Reading {
    pub at: Instant,
    pub received: Snapshot,
    pub server: Option<ServerSample>,
    /// This process's CPU seconds.
    pub generator_cpu_s: Option<f64>,
    /// The server's `/metrics`: forwarded packets and each worker's datagrams.
    pub scrape: workers::Scrape,
    /// The server's media worker threads' CPU seconds, by worker index.
    pub worker_cpu_s: std::collections::BTreeMap<usize, f64>,
}

struct Watchers {
    monitor: Option<ServerMonitor>,
    generator: Option<Probe>,
    http: reqwest::Client,
    url: String,
}

impl Watchers {
    async fn read(&self, subscribers: &Subscribers) -> Reading {
        Reading {
            at: Instant::now(),
            received: subscribers.totals(),
            server: self.monitor.as_ref().and_then(ServerMonitor::snapshot),
            generator_cpu_s: self
                .generator
                .as_ref()
                .and_then(|p| p.read().ok())
                .map(|r| r.0),
            scrape: scrape_metrics(&self.http, &self.url)
                .await
                .unwrap_or_default(),
            worker_cpu_s: self
                .monitor
                .as_ref()
                .map(|m| workers::by_index(m.probe().threads("media-")))
                .unwrap_or_default(),
        }
    }
}

/// The server's `/metrics`, read.
async fn scrape_metrics(http: &reqwest::Client, url: &str) -> Option<workers::Scrape> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(workers::Scrape::parse(&text))
}

/// The rooms of the run: `--room` alone, or `<room>-<i>` for `--rooms` above one.
pub fn room_names(args: &MediaArgs) -> Vec<String> {
    match args.rooms {
        0 | 1 => vec![args.room.clone()],
        n => (0..n).map(|i| format!("{}-{i}", args.room)).collect(),
    }
}

/// The server's IP address, from the URL.
async fn server_ip(url: &str) -> anyhow::Result<IpAddr> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("cannot parse --url {url}"))?;
    let host = parsed.host_str().context("no host in --url")?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs = tokio::net::lookup_host((host, port)).await?;
    let addr = addrs
        .next()
        .with_context(|| format!("{host} has no address"))?;
    Ok(addr.ip())
}

pub async fn run(tokens: &Tokens, url: &str, ws_url: &str, args: MediaArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.seconds > 0, "--seconds must be positive");
    anyhow::ensure!(args.rooms > 0, "--rooms must be positive");
    let started = Instant::now();
    let watchers = Watchers {
        monitor: watch_server(args.server_pid, url, started)?,
        generator: Probe::new(std::process::id()).ok(),
        http: reqwest::Client::new(),
        url: url.to_owned(),
    };
    let mut publishers = Vec::new();
    let mut publications = Vec::new();
    for room in room_names(&args) {
        for i in 0..args.publishers {
            let name = format!("{room}-publisher-{i}");
            let token = tokens.token(&name, &room).await?;
            let mut client = SyntheticClient::join(ws_url, &token, &room)
                .await
                .with_context(|| format!("{name} could not join"))?;
            publications.push(client.publish().await?);
            publishers.push(client);
        }
    }
    let before = watchers.monitor.as_ref().and_then(ServerMonitor::snapshot);
    let joining = Instant::now();
    let subscribers = Subscribers::join(tokens, ws_url, server_ip(url).await?, &args).await?;
    subscribers.wait_connected(CONNECT_TIMEOUT).await;
    let connect_seconds = joining.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;

    let start = watchers.read(&subscribers).await;
    let sent_before = sent(&publications);
    show_progress(&subscribers, &watchers, &args).await?;
    let end = watchers.read(&subscribers).await;
    let sent = sent(&publications) - sent_before;

    let measured = Measured {
        connect_seconds,
        published_packets: sent,
        start: &start,
        end: &end,
        server_pid: watchers.monitor.as_ref().map(ServerMonitor::pid),
        server_before: before,
    };
    let report = Report::new(&args, url, &subscribers, &measured);
    report.print(&args);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        println!("  figures written to {}", path.display());
    }
    subscribers.close().await;
    for client in publishers {
        client.close().await;
    }
    if let Some(monitor) = watchers.monitor {
        monitor.stop();
    }
    Ok(())
}

fn sent(publications: &[Arc<Publication>]) -> u64 {
    publications
        .iter()
        .map(|p| p.audio_sent.load(Ordering::Relaxed) + p.video_sent.load(Ordering::Relaxed))
        .sum()
}

/// One step per second: packets/s received and the server's CPU.
async fn show_progress(
    subscribers: &Subscribers,
    watchers: &Watchers,
    args: &MediaArgs,
) -> anyhow::Result<()> {
    let bar = ProgressBar::new(args.seconds);
    bar.set_style(ProgressStyle::with_template(
        "measuring {bar:40} {pos}/{len}s {msg}",
    )?);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = subscribers.totals().packets;
    for _ in 0..args.seconds {
        tick.tick().await;
        let packets = subscribers.totals().packets;
        let cpu = watchers
            .monitor
            .as_ref()
            .and_then(ServerMonitor::recent_cpu_percent)
            .map_or(String::new(), |pct| format!(", server CPU {pct:.0}%"));
        bar.inc(1);
        bar.set_message(format!("{} packets/s{cpu}", packets - last));
        last = packets;
    }
    bar.finish();
    Ok(())
}
