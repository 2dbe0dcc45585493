//! The chat load scenarios.
//!
//! - chat (the default): `connections` chatters split into `conversations` groups; every
//!   chatter sends one message every `interval_ms` for `seconds`. Reports what the server
//!   sustained: acked messages per second, deliveries per second (each message reaches every
//!   other member of its group), deliveries missing, per-conversation order, and send-to-receive
//!   latency percentiles and histogram. Sender and receivers share this process's clock, so
//!   latency is measured on one clock.
//! - idle (`--idle`): the same connections and groups, then nothing is sent for `seconds`: what
//!   idle connections cost the server, and whether that grows.
//!
//! When the server runs on this machine its CPU time and RSS are read from /proc throughout
//! (see [`crate::watch`]).

mod idle;
mod plot;
mod report;
mod send;
mod setup;
mod stats;

use serde::Serialize;
use std::path::PathBuf;

// What to run and what to write; echoed as `args` in the JSON report. (No doc comment: clap
// would show it instead of the subcommand's.)
#[derive(clap::Args, Serialize)]
#[command(after_help = "\
Scenarios:
  chat            chatters send for --seconds; rates, latency, order, server CPU and memory
  chat --idle     the same connections and groups send nothing for --seconds; server memory
                  per connection at the start and the end of the idle period

The server's CPU and RSS come from /proc: --server-pid, or else, when --url names this machine,
the process listening on its port. --json writes every figure; --plot writes an SVG of
send→receive latency per second (chat) or of server RSS over time (--idle).")]
pub struct ChatArgs {
    /// WebSocket connections (one chatter each).
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Group conversations the chatters are split into.
    #[arg(long, default_value_t = 100)]
    pub conversations: usize,
    /// Each chatter sends one message this often.
    #[arg(long, default_value_t = 2000)]
    pub interval_ms: u64,
    /// How long to send, in seconds (with --idle: how long to sit).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Idle connections: connect, say hello and join the groups, then send nothing for
    /// --seconds while the server's RSS is sampled.
    #[arg(long)]
    pub idle: bool,
    /// The server's process id, for its CPU and RSS (default: the process listening on the
    /// URL's port, when the URL is a loopback address).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Connections opened at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Write every figure as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write an SVG plot to this file: latency per second (chat) or server RSS (--idle).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
}

/// Runs the chat or idle scenario against the server at `url` (`ws_urls`: the WebSocket of
/// each node connections are spread over; one for a single server).
pub async fn run(
    tokens: &crate::Tokens,
    url: &str,
    ws_urls: &[String],
    args: ChatArgs,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        tokens.can_chat(),
        "chat needs tokens with the chat grant: pass the server's --jwt-secret (guests never chat)"
    );
    anyhow::ensure!(
        args.conversations > 0 && args.connections >= 2 * args.conversations,
        "need at least two connections per conversation"
    );
    anyhow::ensure!(args.interval_ms > 0, "--interval-ms must be positive");
    anyhow::ensure!(args.idle || args.seconds > 0, "--seconds must be positive");
    anyhow::ensure!(!ws_urls.is_empty(), "--url names no server");
    let setup = setup::Setup::prepare(tokens, url, ws_urls, &args).await?;
    let report = if args.idle {
        idle::run(setup, url, args).await?
    } else {
        send::run(setup, url, args).await?
    };
    report::print(&report);
    write_outputs(&report)
}

/// `--json` and `--plot`.
fn write_outputs(report: &report::Report) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(path) = &report.args.json {
        let json = serde_json::to_string_pretty(report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        println!("  figures written to {}", path.display());
    }
    let Some(path) = &report.args.plot else {
        return Ok(());
    };
    let args = &report.args;
    if let Some(chat) = &report.chat {
        if chat.latency_per_second.is_empty() {
            println!("  no plot written: nothing was delivered");
            return Ok(());
        }
        let title = format!(
            "send→receive latency: {} connections, {} conversations, one message per {} ms",
            args.connections, args.conversations, args.interval_ms
        );
        plot::latency(path, &chat.latency_per_second, &title)?;
    } else {
        let Some(server) = report.server.as_ref().filter(|s| !s.samples.is_empty()) else {
            println!("  no plot written: the idle plot shows the server's RSS, which was not read");
            return Ok(());
        };
        let title = format!(
            "server RSS: {} idle connections in {} conversations",
            args.connections, args.conversations
        );
        plot::rss(path, &server.samples, &title)?;
    }
    println!("  plot written to {}", path.display());
    Ok(())
}
