//! The chat load scenario: `connections` chatters split into `conversations` groups; every
//! chatter sends one message every `interval_ms` for `seconds`. Reports what the server
//! sustained: acked messages per second, deliveries per second (each message reaches every
//! other member of its group), deliveries missing, and send-to-receive latency percentiles.
//! Sender and receivers share this process's clock, so latency is measured on one clock.

use indicatif::{ProgressBar, ProgressStyle};
use loadtest::chatter::Chatter;
use signaling::protocol::chat::NewConversationKind;
use signaling::protocol::{ClientMessage, ServerMessage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct ChatArgs {
    /// WebSocket connections (one chatter each).
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Group conversations the chatters are split into.
    #[arg(long, default_value_t = 100)]
    conversations: usize,
    /// Each chatter sends one message this often.
    #[arg(long, default_value_t = 2000)]
    interval_ms: u64,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub async fn run(tokens: &crate::Tokens, ws_url: &str, args: ChatArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        tokens.can_chat(),
        "chat needs tokens with the chat grant: pass the server's --jwt-secret (guests never chat)"
    );
    anyhow::ensure!(
        args.conversations > 0 && args.connections >= 2 * args.conversations,
        "need at least two connections per conversation"
    );
    let bar = ProgressBar::new(args.connections as u64);
    bar.set_style(ProgressStyle::with_template(
        "connecting {bar:40} {pos}/{len}",
    )?);
    let mut chatters = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let token = tokens.token(&format!("chatter-{i}"), "chat-load").await?;
        chatters.push(Arc::new(Chatter::connect(ws_url, &token).await?));
        bar.inc(1);
    }
    bar.finish();

    // Group g: chatters g, g + conversations, g + 2 * conversations, ...
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for g in 0..args.conversations {
        let members: Vec<usize> = (g..args.connections).step_by(args.conversations).collect();
        let owner = &chatters[members[0]];
        let with = members[1..]
            .iter()
            .map(|&m| chatters[m].identity.clone())
            .collect();
        let reply = owner
            .request(|id| ClientMessage::ChatCreate {
                id,
                kind: NewConversationKind::Group,
                with,
                title: Some(format!("load {g}")),
            })
            .await?;
        let ServerMessage::ChatConversation { conversation, .. } = reply else {
            anyhow::bail!("unexpected reply to chat_create: {reply:?}");
        };
        groups.push((conversation.id, members));
    }

    let clock = Instant::now();
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let run_for = Duration::from_secs(args.seconds);
    let interval = Duration::from_millis(args.interval_ms);
    let mut ack_latencies = Vec::new();
    for (conversation, members) in &groups {
        for &m in members {
            let (chatter, conversation) = (chatters[m].clone(), conversation.clone());
            let (acked, failed) = (acked.clone(), failed.clone());
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
                            acked.fetch_add(1, Ordering::Relaxed);
                            latencies.push(clock.elapsed() - sent_at);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    next += interval;
                    tokio::time::sleep_until(next).await;
                }
                latencies
            }));
        }
    }
    let bar = ProgressBar::new(args.seconds);
    bar.set_style(ProgressStyle::with_template(
        "sending {bar:40} {pos}/{len}s {msg}",
    )?);
    for _ in 0..args.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        bar.inc(1);
        bar.set_message(format!("{} acked", acked.load(Ordering::Relaxed)));
    }
    for task in tasks {
        ack_latencies.extend(task.await?);
    }
    bar.finish();
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut delivery_latencies = Vec::new();
    for (_, members) in &groups {
        for &m in members {
            for (arrived, event) in chatters[m].events() {
                let ServerMessage::ChatMessage { message } = event else {
                    continue;
                };
                let Some(sent_micros) = message
                    .text
                    .as_deref()
                    .and_then(|t| t.strip_prefix("t="))
                    .and_then(|t| t.parse::<u64>().ok())
                else {
                    continue;
                };
                let sent = Duration::from_micros(sent_micros);
                delivery_latencies.push(arrived.duration_since(clock).saturating_sub(sent));
            }
        }
    }
    let acked = acked.load(Ordering::Relaxed);
    // Every acked message goes to every other member of its group.
    let group_size = |members: &Vec<usize>| members.len() as u64 - 1;
    let mean_fanout =
        groups.iter().map(|(_, m)| group_size(m)).sum::<u64>() as f64 / groups.len() as f64;
    let expected = (acked as f64 * mean_fanout).round() as u64;
    delivery_latencies.sort();
    ack_latencies.sort();
    let delivered = delivery_latencies.len() as u64;
    let seconds = args.seconds as f64;
    println!(
        "chat load: {} connections, {} conversations, one message per {} ms each, {} s",
        args.connections, args.conversations, args.interval_ms, args.seconds
    );
    println!(
        "  sent (acked): {acked} ({:.0}/s), refused or failed: {}",
        acked as f64 / seconds,
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  delivered: {delivered} of about {expected} expected ({:.0}/s)",
        delivered as f64 / seconds
    );
    println!(
        "  send→receive latency: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&delivery_latencies, 0.50),
        percentile(&delivery_latencies, 0.99),
        delivery_latencies.last().copied().unwrap_or_default()
    );
    println!(
        "  send→ack latency: p50 {:?}, p99 {:?}",
        percentile(&ack_latencies, 0.50),
        percentile(&ack_latencies, 0.99)
    );
    for chatter in &chatters {
        chatter.close();
    }
    Ok(())
}
