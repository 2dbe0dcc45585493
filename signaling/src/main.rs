//! The `parley` binary: `parley [serve]` runs the server; `parley token` prints a token.

use anyhow::Context;
use clap::{Parser, Subcommand};
use signaling::auth::{Grants, TokenAuthority};
use signaling::config::{Config, LogFormat, ServeArgs};
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Video and voice calls with chat: SFU + signaling"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Print a participant token signed with the configured secret.
    Token {
        #[arg(long)]
        room: String,
        #[arg(long)]
        identity: String,
        /// Display name (default: the identity).
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated: join,publish,subscribe,chat,moderate,watch (WHEP),admin.
        #[arg(long, default_value = "join,publish,subscribe,chat")]
        grants: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

fn init_logging(format: LogFormat) {
    // webrtc-rs logs retransmits and unknown DTLS extensions at WARN on hot paths, and every
    // failed ICE check with its address: the SFU logs those once per connection itself.
    let default = "info,rtc_srtp=error,rtc_dtls=error,rtc=warn,rtc_ice=error,tower_http=info";
    let filter = EnvFilter::try_from_env("PARLEY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token {
            room,
            identity,
            name,
            grants,
            ttl,
            serve,
        }) => {
            let config = Config::resolve(serve)?;
            let secret = config.jwt_secret.context(
                "no secret configured: set PARLEY_JWT_SECRET (or --jwt-secret, or jwt_secret in the config file) \
                 to the same value the server uses",
            )?;
            let grants = Grants::parse_list(&grants).map_err(anyhow::Error::msg)?;
            let token = TokenAuthority::new(secret.as_bytes()).mint(
                &identity,
                name.as_deref().unwrap_or(&identity),
                &room,
                grants,
                Duration::from_secs(ttl),
            )?;
            println!("{token}");
            Ok(())
        }
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    init_logging(config.log_format);
    tracing::info!(?config, "starting");
    let drain_timeout = config.drain_timeout;
    let mut server = signaling::Server::start(config)
        .await
        .context("cannot start parley")?;
    tokio::select! {
        _ = shutdown_signal() => {
            // A second signal stops at once.
            tokio::select! {
                () = server.drain(drain_timeout) => {}
                _ = shutdown_signal() => {}
            }
            tracing::info!("shutdown requested: telling participants and closing connections");
            server.shutdown().await;
        }
        _ = server.wait() => anyhow::bail!("server stopped unexpectedly"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
