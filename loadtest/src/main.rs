//! `parley-loadtest`: synthetic participants against a running Parley server: `media`
//! (publishers and subscribers of synthetic audio/video; `--light` subscribers count media
//! without decrypting it, hundreds per core) and `chat` (chatters in group
//! conversations, measuring delivery rate and latency). Tokens are minted with the server's
//! secret (`--jwt-secret` / `PARLEY_JWT_SECRET`), as an app's backend would, or, for `media`
//! only, come from the guest-token endpoint of a server run with `--guest-tokens` (guests never
//! chat).

mod chat_load;
mod fdlimit;
mod media_load;
mod watch;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "parley-loadtest", about = "Synthetic Parley participants")]
struct Cli {
    /// Server base URL; for `chat`, several nodes of one cluster may be named
    /// (comma-separated): connections are spread over them.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8080",
        value_delimiter = ','
    )]
    url: Vec<String>,
    /// The server's token secret: participants get tokens minted with it (required for `chat`).
    #[arg(long, global = true, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Publishers and subscribers of synthetic audio and video in one room: packets/s and loss
    /// received, and the server's CPU per forwarded packet; `--light` for light subscribers.
    Media(media_load::MediaArgs),
    /// Chatters in group conversations: messages/s delivered, send-to-receive latency, order,
    /// and the server's CPU and memory per connection; `--idle` for idle connections only.
    Chat(chat_load::ChatArgs),
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
    let url = cli.url.first().cloned().unwrap_or_default();
    let ws_urls: Vec<String> = cli
        .url
        .iter()
        .map(|u| format!("{}/ws", u.replacen("http", "ws", 1)))
        .collect();
    let ws_url = ws_urls.first().cloned().unwrap_or_default();
    let tokens = Tokens::new(&url, cli.jwt_secret.as_deref());
    match cli.scenario {
        Scenario::Media(args) => media_load::run(&tokens, &url, &ws_url, args).await,
        Scenario::Chat(args) => chat_load::run(&tokens, &url, &ws_urls, args).await,
    }
}
