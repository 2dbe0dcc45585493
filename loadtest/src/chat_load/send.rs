//! The chat scenario proper: every chatter sends one message per interval for `seconds`, then
//! the deliveries are worked out from what everyone received.

use super::report::{ChatFigures, CpuFigures, Report, ServerFigures};
use super::setup::Setup;
use super::stats::{self, Percentiles};
use super::ChatArgs;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How long the last deliveries get to land after sending stops.
const DRAIN: Duration = Duration::from_secs(2);

/// Acked and failed sends so far, shared by the sending tasks.
#[derive(Default)]
struct Counters {
    acked: AtomicU64,
    failed: AtomicU64,
}

pub async fn run(setup: Setup, url: &str, args: ChatArgs) -> anyhow::Result<Report> {
    let send_start = setup.snapshot();
    let clock = Instant::now();
    let counters = Arc::new(Counters::default());
    let tasks = spawn_senders(&setup, &args, clock, &counters);
    show_progress(&setup, &args, &counters).await?;
    let busy = setup.snapshot();
    let mut ack_latencies = Vec::new();
    for task in tasks {
        ack_latencies.extend(task.await?);
    }
    // Let the last deliveries land.
    tokio::time::sleep(DRAIN).await;
    let drained = setup.snapshot();

    let received = stats::collect(&setup.chatters, clock);
    let chat = chat_figures(&setup, &args, &counters, received, ack_latencies);
    let server = setup.monitor.as_ref().map(|m| m.pid()).map(|pid| {
        let readings = [
            ("before", setup.before),
            ("idle", setup.idle),
            ("busy", busy),
            ("drained", drained),
        ];
        let mut figures = ServerFigures::new(pid, &readings, args.connections, Vec::new());
        if let (Some(start), Some(end), Some(drained)) = (send_start, busy, drained) {
            figures.cpu = Some(CpuFigures::new(&start, &end, &drained, chat.delivered));
        }
        figures
    });
    setup.close();
    let samples = setup.monitor.map(|m| m.stop()).unwrap_or_default();
    Ok(Report {
        scenario: "chat",
        url: url.to_owned(),
        open_file_limit: setup.open_file_limit,
        connect_seconds: setup.connect_seconds,
        chat: Some(chat),
        idle: None,
        server: server.map(|s| ServerFigures { samples, ..s }),
        args,
    })
}

/// One task per chatter, sending to its group every interval until `seconds` have passed since
/// `clock`; each returns its send→ack latencies.
fn spawn_senders(
    setup: &Setup,
    args: &ChatArgs,
    clock: Instant,
    counters: &Arc<Counters>,
) -> Vec<JoinHandle<Vec<Duration>>> {
    let run_for = Duration::from_secs(args.seconds);
    let interval = Duration::from_millis(args.interval_ms);
    let mut tasks = Vec::new();
    for (conversation, members) in &setup.groups {
        for &m in members {
            let (chatter, conversation) = (setup.chatters[m].clone(), conversation.clone());
            let counters = counters.clone();
            // Spread the first sends over one interval so they do not all land at once.
            let offset = interval.mul_f64(m as f64 / args.connections as f64);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                tokio::time::sleep(offset).await;
                let mut next = tokio::time::Instant::now();
                while clock.elapsed() < run_for {
                    let sent_at = clock.elapsed();
                    let text = format!("t={}", sent_at.as_micros());
                    match chatter.send(&conversation, &text).await {
                        Ok(_) => {
                            counters.acked.fetch_add(1, Ordering::Relaxed);
                            latencies.push(clock.elapsed() - sent_at);
                        }
                        Err(_) => {
                            counters.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    next += interval;
                    tokio::time::sleep_until(next).await;
                }
                latencies
            }));
        }
    }
    tasks
}

/// The sending bar: one step per second, with acked/s and the server's CPU.
async fn show_progress(setup: &Setup, args: &ChatArgs, counters: &Counters) -> anyhow::Result<()> {
    let bar = ProgressBar::new(args.seconds);
    bar.set_style(ProgressStyle::with_template(
        "sending {bar:40} {pos}/{len}s {msg}",
    )?);
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    for _ in 0..args.seconds {
        tick.tick().await;
        let acked = counters.acked.load(Ordering::Relaxed);
        let cpu = setup
            .monitor
            .as_ref()
            .and_then(|m| m.recent_cpu_percent())
            .map_or(String::new(), |pct| format!(", server CPU {pct:.0}%"));
        bar.inc(1);
        bar.set_message(format!("{acked} acked, {}/s{cpu}", acked - last));
        last = acked;
    }
    bar.finish();
    Ok(())
}

fn chat_figures(
    setup: &Setup,
    args: &ChatArgs,
    counters: &Counters,
    received: stats::Received,
    mut ack_latencies: Vec<Duration>,
) -> ChatFigures {
    let acked = counters.acked.load(Ordering::Relaxed);
    // Every acked message goes to every other member of its group.
    let groups = &setup.groups;
    let fanout: u64 = groups.iter().map(|(_, m)| m.len() as u64 - 1).sum();
    let mean_fanout = fanout as f64 / groups.len() as f64;
    let expected = (acked as f64 * mean_fanout).round() as u64;
    let latency_per_second = stats::per_second(&received.deliveries);
    let mut latencies: Vec<Duration> = received.deliveries.iter().map(|&(_, l)| l).collect();
    latencies.sort();
    ack_latencies.sort();
    let delivered = latencies.len() as u64;
    let seconds = args.seconds as f64;
    ChatFigures {
        acked,
        acked_per_s: acked as f64 / seconds,
        failed: counters.failed.load(Ordering::Relaxed),
        delivered,
        expected,
        delivered_per_s: delivered as f64 / seconds,
        out_of_order: received.out_of_order,
        duplicates: received.duplicates,
        histogram: stats::histogram(&latencies),
        send_to_receive: Percentiles::of(&latencies),
        send_to_ack: Percentiles::of(&ack_latencies),
        latency_per_second,
    }
}
