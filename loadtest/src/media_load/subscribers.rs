//! The subscribers of a media run, full or light, joined with bounded concurrency, and what they
//! received so far in one shape for both.

use super::MediaArgs;
use crate::Tokens;
use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use loadtest::light::{self, LightPool, LightSubscriber, LightTransport, Snapshot};
use loadtest::SyntheticClient;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub enum Subscribers {
    /// Today's synthetic clients: the async `webrtc` crate, every payload decrypted and checked.
    Full(Vec<SyntheticClient>),
    /// Light subscribers (see `loadtest::light`); the pool keeps their worker tasks.
    Light(LightPool, Vec<LightSubscriber>),
}

impl Subscribers {
    /// Joins `args.subscribers` subscribers per room, named `<room>-subscriber-<i>`.
    pub async fn join(
        tokens: &Tokens,
        ws_url: &str,
        server: IpAddr,
        args: &MediaArgs,
    ) -> anyhow::Result<Self> {
        let rooms = super::room_names(args);
        let bar = ProgressBar::new((args.subscribers * rooms.len()) as u64);
        bar.set_style(ProgressStyle::with_template(
            "joining {bar:40} {pos}/{len} {per_sec}",
        )?);
        let names = rooms.iter().flat_map(|room| {
            (0..args.subscribers).map(move |i| (format!("{room}-subscriber-{i}"), room.clone()))
        });
        let concurrency = args.connect_concurrency.max(1);
        let subscribers = if args.light {
            let local_ip = light::local_ip_toward(server)
                .with_context(|| format!("no route to the server at {server}"))?;
            let transport = if args.tcp {
                LightTransport::Tcp
            } else {
                LightTransport::Udp
            };
            let pool = LightPool::start(args.light_tasks, local_ip, transport)?;
            let pool_ref = &pool;
            let mut joining = futures_util::stream::iter(names)
                .map(|(name, room)| async move {
                    let token = tokens.token(&name, &room).await?;
                    LightSubscriber::join(pool_ref, ws_url, &token, &room)
                        .await
                        .with_context(|| format!("{name} could not join"))
                })
                .buffer_unordered(concurrency);
            let mut joined = Vec::new();
            while let Some(subscriber) = joining.next().await {
                joined.push(subscriber?);
                bar.inc(1);
            }
            drop(joining);
            Self::Light(pool, joined)
        } else {
            let mut joining = futures_util::stream::iter(names)
                .map(|(name, room)| async move {
                    let token = tokens.token(&name, &room).await?;
                    SyntheticClient::join(ws_url, &token, &room)
                        .await
                        .with_context(|| format!("{name} could not join"))
                })
                .buffer_unordered(concurrency);
            let mut joined = Vec::new();
            while let Some(client) = joining.next().await {
                joined.push(client?);
                bar.inc(1);
            }
            Self::Full(joined)
        };
        bar.finish();
        Ok(subscribers)
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Full(clients) => clients.len(),
            Self::Light(_, subscribers) => subscribers.len(),
        }
    }

    /// What every subscriber received so far. Full subscribers count payload bytes and loss by
    /// the payloads' own indices; they send no RTCP of their own making.
    pub fn totals(&self) -> Snapshot {
        match self {
            Self::Light(_, subscribers) => subscribers.iter().map(|s| s.snapshot()).sum(),
            Self::Full(clients) => clients
                .iter()
                .map(|client| {
                    let view = client.view();
                    let mut totals = Snapshot {
                        connected: u64::from(view.subscriber_connected),
                        offers_answered: view.offers_answered,
                        ..Snapshot::default()
                    };
                    for receipt in view.received.values() {
                        totals.packets += receipt.packets;
                        totals.bytes += receipt.payload_bytes;
                        totals.gaps += receipt.index_gaps;
                        totals.malformed += receipt.corrupted;
                        if let (Some(first), Some(last)) = (receipt.first_index, receipt.last_index)
                        {
                            totals.lost +=
                                ((last + 1).saturating_sub(first)).saturating_sub(receipt.packets);
                        }
                    }
                    totals
                })
                .sum(),
        }
    }

    /// Waits up to `timeout` for every subscriber's connection; how long it took.
    pub async fn wait_connected(&self, timeout: Duration) -> Duration {
        let started = Instant::now();
        while started.elapsed() < timeout && (self.totals().connected as usize) < self.len() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    }

    pub async fn close(self) {
        match self {
            Self::Full(clients) => {
                for client in clients {
                    client.close().await;
                }
            }
            // Dropping a light subscriber closes it; the workers stop with the pool.
            Self::Light(pool, subscribers) => {
                drop(subscribers);
                tokio::time::sleep(Duration::from_millis(100)).await;
                drop(pool);
            }
        }
    }
}
