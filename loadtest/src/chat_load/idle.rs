//! The idle scenario (`--idle`): the chatters, in their groups, send nothing for `seconds`
//! while the server's RSS is sampled; memory per connection at the start and the end of the
//! idle period shows whether idle connections cost more over time.

use super::report::{IdleFigures, Report, ServerFigures};
use super::setup::Setup;
use super::ChatArgs;
use crate::watch::{bytes, per_connection};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

pub async fn run(setup: Setup, url: &str, args: ChatArgs) -> anyhow::Result<Report> {
    let bar = ProgressBar::new(args.seconds);
    bar.set_style(ProgressStyle::with_template(
        "idle {bar:40} {pos}/{len}s {msg}",
    )?);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    for _ in 0..args.seconds {
        tick.tick().await;
        bar.inc(1);
        let open = open_connections(&setup);
        let memory = match (setup.before, setup.snapshot()) {
            (Some(before), Some(now)) => format!(
                ", server RSS {} ({} per connection)",
                bytes(now.rss_bytes as f64),
                bytes(per_connection(
                    before.rss_bytes,
                    now.rss_bytes,
                    args.connections
                ))
            ),
            _ => String::new(),
        };
        bar.set_message(format!("{open} open{memory}"));
    }
    bar.finish();
    let idle_end = setup.snapshot();
    let idle = IdleFigures {
        idle_seconds: args.seconds,
        connections_open_at_end: open_connections(&setup),
    };
    let server = setup.monitor.as_ref().map(|m| {
        let readings = [
            ("before", setup.before),
            ("idle", setup.idle),
            ("idle_end", idle_end),
        ];
        ServerFigures::new(m.pid(), &readings, args.connections, Vec::new())
    });
    setup.close();
    let samples = setup.monitor.map(|m| m.stop()).unwrap_or_default();
    Ok(Report {
        scenario: "idle",
        url: url.to_owned(),
        open_file_limit: setup.open_file_limit,
        connect_seconds: setup.connect_seconds,
        chat: None,
        idle: Some(idle),
        server: server.map(|s| ServerFigures { samples, ..s }),
        args,
    })
}

/// Chatters whose socket the server has not closed.
fn open_connections(setup: &Setup) -> usize {
    setup.chatters.iter().filter(|c| !c.is_closed()).count()
}
