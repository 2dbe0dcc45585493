//! `parley-loadtest`: synthetic participants against a running Parley server: `media`
//! (publishers and subscribers of synthetic audio/video) and `chat` (chatters in group
//! conversations, measuring delivery rate and latency). Tokens are minted with the server's
//! secret (`--jwt-secret` / `PARLEY_JWT_SECRET`), as an app's backend would, or, for `media`
//! only, come from the guest-token endpoint of a server run with `--guest-tokens` (guests never
//! chat).

mod chat_load;
mod fdlimit;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use loadtest::SyntheticClient;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "parley-loadtest", about = "Synthetic Parley participants")]
struct Cli {
    /// Server base URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's token secret: participants get tokens minted with it (required for `chat`).
    #[arg(long, global = true, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Publishers and subscribers of synthetic audio and video in one room.
    Media(MediaArgs),
    /// Chatters in group conversations: messages/s delivered, send-to-receive latency, order,
    /// and the server's CPU and memory per connection; `--idle` for idle connections only.
    Chat(chat_load::ChatArgs),
}

#[derive(clap::Args)]
struct MediaArgs {
    #[arg(long, default_value = "loadtest")]
    room: String,
    /// Participants that publish audio + video (and also subscribe).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Participants that only subscribe.
    #[arg(long, default_value_t = 2)]
    subscribers: usize,
    /// How long to send media, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(serde::Deserialize)]
struct GuestToken {
    token: String,
}

/// Where participants' tokens come from.
pub(crate) enum Tokens {
    /// Minted here with the server's secret: the participant grants, chat included.
    Minted(Box<signaling::auth::TokenAuthority>),
    /// The server's guest-token endpoint: calls only.
    Guest { http: reqwest::Client, url: String },
}

impl Tokens {
    fn new(url: &str, secret: Option<&str>) -> Self {
        match secret {
            Some(secret) => Self::Minted(Box::new(signaling::auth::TokenAuthority::new(
                secret.as_bytes(),
            ))),
            None => Self::Guest {
                http: reqwest::Client::new(),
                url: url.to_owned(),
            },
        }
    }

    pub(crate) fn can_chat(&self) -> bool {
        matches!(self, Self::Minted(_))
    }

    pub(crate) async fn token(&self, name: &str, room: &str) -> anyhow::Result<String> {
        match self {
            Self::Minted(authority) => Ok(authority.mint(
                name,
                name,
                room,
                signaling::auth::Grants::participant(),
                Duration::from_secs(3600),
            )?),
            Self::Guest { http, url } => {
                let response = http
                    .post(format!("{url}/api/guest-token"))
                    .json(&serde_json::json!({ "name": name, "room": room }))
                    .send()
                    .await?
                    .error_for_status()
                    .context("without --jwt-secret the server must run with --guest-tokens")?;
                Ok(response.json::<GuestToken>().await?.token)
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    // Every connection is a file descriptor: take all the hard limit allows.
    if let Err(e) = fdlimit::raise_to_hard() {
        eprintln!("warning: could not raise the open-file limit: {e}");
    }
    let ws_url = format!("{}/ws", cli.url.replacen("http", "ws", 1));
    let tokens = Tokens::new(&cli.url, cli.jwt_secret.as_deref());
    match cli.scenario {
        Scenario::Media(args) => media(&tokens, &ws_url, args).await,
        Scenario::Chat(args) => chat_load::run(&tokens, &cli.url, &ws_url, args).await,
    }
}

async fn media(tokens: &Tokens, ws_url: &str, args: MediaArgs) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    let mut publications = Vec::new();
    for i in 0..args.publishers + args.subscribers {
        let name = format!("synthetic-{i}");
        let token = tokens.token(&name, &args.room).await?;
        let mut client = SyntheticClient::join(ws_url, &token, &args.room).await?;
        if i < args.publishers {
            publications.push(client.publish().await?);
        }
        clients.push(client);
    }
    let bar = ProgressBar::new(args.seconds);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len}s {msg}")?);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let received: u64 = clients
            .iter()
            .flat_map(|c| c.view().received.into_values())
            .map(|r| r.packets)
            .sum();
        bar.inc(1);
        bar.set_message(format!("{received} packets received"));
    }
    bar.finish();
    for client in &clients {
        client.stop_media();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent: u64 = publications
        .iter()
        .map(|p| {
            p.audio_sent.load(std::sync::atomic::Ordering::Relaxed)
                + p.video_sent.load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    let mut received = 0;
    let mut corrupted = 0;
    let mut gaps = 0;
    for client in &clients {
        for receipt in client.view().received.values() {
            received += receipt.packets;
            corrupted += receipt.corrupted;
            gaps += receipt.index_gaps;
        }
    }
    println!(
        "sent {sent} packets; subscribers received {received} ({} expected at most), {corrupted} corrupted, {gaps} gaps",
        sent * (args.publishers + args.subscribers - 1) as u64
    );
    for client in clients {
        client.close().await;
    }
    Ok(())
}
