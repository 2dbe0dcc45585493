//! Parley's signaling server: the WebSocket protocol, HTTP routes, tokens, metrics, and the
//! wiring that starts the media plane (`sfu`) and chat storage (`chat`) behind them.
//!
//! # Layout
//! - [`protocol`]: every WebSocket message, defined once (documented in `docs/protocol.md`).
//! - [`session`]: one client's protocol state machine, socket-free; [`ws`] drives it.
//! - [`http`]: routes (`/ws`, `/healthz`, `/metrics`, `/api/guest-token`, the web app).
//! - [`whip`]: WHIP ingest and WHEP playback over plain HTTP.
//! - [`auth`]: JWT grants. [`config`]: flags, env, TOML. [`metrics`]: Prometheus.
//! - [`Server`]: start on a config, stop gracefully.

pub mod admin;
pub mod auth;
pub mod browser_policy;
pub mod cluster;
pub mod config;
pub mod erasure;
pub mod fanout;
pub mod http;
pub mod lifecycle;
pub mod listener;
pub mod messaging;
pub mod metrics;
pub mod moderation;
pub mod protocol;
pub mod rooms;
pub mod session;
pub mod state;
pub mod turn;
pub mod webhooks;
pub mod whip;
pub mod whip_limits;
pub mod ws;

use auth::TokenAuthority;
use config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Store(#[from] chat::StoreError),
    #[error("cannot bind the media port: {0}")]
    Media(std::io::Error),
    #[error("cannot join the cluster: {0}")]
    Cluster(#[from] cluster::ClusterError),
    #[error("cannot bind the HTTP address {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    pub http_addr: SocketAddr,
    pub media_addrs: Vec<SocketAddr>,
    /// The ICE-TCP addresses (empty when ICE-TCP is off).
    pub tcp_addrs: Vec<SocketAddr>,
    tokens: TokenAuthority,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Set by [`Server::drain`]: no new room opens here.
    draining: Arc<std::sync::atomic::AtomicBool>,
    sfu_stats: Arc<sfu::SfuStats>,
    relay: Option<Arc<cluster::Relay>>,
}

/// How often each of several nodes looks for ring timeouts (any node may have armed them).
const INVITATION_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// A fresh random secret, for servers started without one.
fn random_secret() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

impl Server {
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let sfu = sfu::spawn(config.sfu_config())
            .await
            .map_err(StartError::Media)?;
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| StartError::Http {
                addr: config.http_addr,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| StartError::Http {
            addr: config.http_addr,
            source,
        })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state = assemble(config, sfu.clone(), shutdown_rx.clone()).await?;
        let (tokens, store) = (state.tokens.clone(), state.store.clone());
        let (draining, sfu_stats) = (state.draining.clone(), sfu.stats().clone());
        tracing::info!(
            http = %http_addr,
            media = ?sfu.local_addrs(),
            ice_tcp = ?sfu.tcp_addrs(),
            database = store.backend(),
            guest_tokens = state.config.guest_tokens,
            "parley listening"
        );
        let media_addrs = sfu.local_addrs().to_vec();
        let tcp_addrs = sfu.tcp_addrs().to_vec();
        let tracker = listener::ConnectionTracker::new(
            state.config.connection_limits,
            state.metrics.http_connections.clone(),
            state.metrics.http_connections_refused_total.clone(),
        );
        let relay = state.relay.clone();
        let app = http::router(state);
        let winding = relay.clone();
        let task = tokio::spawn(async move {
            listener::serve(listener, app, tracker, shutdown_rx).await;
            // The sessions held for other nodes' sockets leave their rooms and tell those
            // sockets to rejoin before the media plane and the NATS connection go.
            if let Some(relay) = winding {
                relay.wind_down().await;
            }
            sfu.shutdown().await;
            store.close().await;
            tracing::info!("parley stopped");
        });
        Ok(Self {
            http_addr,
            media_addrs,
            tcp_addrs,
            tokens,
            shutdown: shutdown_tx,
            task,
            draining,
            sfu_stats,
            relay,
        })
    }

    /// Stops opening rooms here (with several nodes, new rooms go to the others: this node's
    /// heartbeats say it is stopping) and waits up to `timeout` for the rooms open here to
    /// empty. Then [`Server::shutdown`] tells whoever is left to rejoin elsewhere.
    pub async fn drain(&self, timeout: std::time::Duration) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let rooms = || sfu::SfuStats::get(&self.sfu_stats.rooms);
        tracing::info!(
            rooms = rooms(),
            timeout_secs = timeout.as_secs(),
            "draining: no new rooms here"
        );
        let deadline = tokio::time::Instant::now() + timeout;
        while rooms() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// The authority that signs this server's tokens (tests and `parley token` use it).
    pub fn tokens(&self) -> &TokenAuthority {
        &self.tokens
    }

    /// Tells every session goodbye, closes sockets and peer connections, and waits.
    pub async fn shutdown(self) {
        // With several nodes, this node's rooms are placed anew at once: everyone told to
        // rejoin finds them free.
        if let Some(relay) = &self.relay {
            relay.placement.release_all().await;
        }
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops on its own (it only does on a fatal error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Everything a session and the HTTP routes share, built around a running media plane: tokens,
/// the chat store, metrics, webhooks, messaging (with its sweepers and the recovery of what a
/// restart interrupted). `Server::start` serves it over HTTP; tests drive sessions on it
/// directly, with `sfu::spawn_in_memory` as the media plane.
pub async fn assemble(
    mut config: Config,
    sfu: sfu::SfuHandle,
    shutdown_rx: watch::Receiver<bool>,
) -> Result<state::AppState, StartError> {
    if config.jwt_secret.is_none() {
        tracing::warn!(
            "no PARLEY_JWT_SECRET configured: using a random secret; tokens will not survive a restart"
        );
        config.jwt_secret = Some(random_secret());
    }
    let tokens = TokenAuthority::new(config.jwt_secret.as_deref().unwrap_or_default().as_bytes())
        .with_max_lifetime(config.max_token_lifetime);
    let mut store = chat::Store::connect(&config.database_url).await?;
    if let Some(cluster) = &config.cluster {
        // Room visits are this node's own: at start it ends only those (others' rooms live).
        store = store.with_node(&cluster.node_id);
    }
    let metrics = metrics::Metrics::new(sfu.stats().clone());
    let webhooks = match &config.webhook {
        Some(target) => {
            webhooks::Webhooks::spawn(target.clone(), metrics.clone(), shutdown_rx.clone())
        }
        None => webhooks::Webhooks::disabled(),
    };
    let files = chat::AttachmentStore::new(config.data_dir.join("attachments"))?;
    let local = fanout::LocalFanout::new(metrics.chat_device_cutoffs_total.clone());
    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (fanout, nats): (fanout::SharedFanout, _) = match &config.cluster {
        Some(cluster) => {
            let me = cluster::incarnation(&cluster.node_id);
            let remote = Arc::new(std::sync::Mutex::new(
                messaging::presence::RemotePresence::new(&me),
            ));
            let hooks = Arc::new(cluster::PresenceHooks::default());
            let loads = cluster::rooms::Loads::default();
            let draining = draining.clone();
            let client = cluster::connect(cluster).await?;
            let setup = cluster::Setup {
                client: client.clone(),
                cluster: cluster.name.clone(),
                node: me.clone(),
                local,
                failures: metrics.cluster_publish_failures_total.clone(),
                presence: cluster::ClusterPresence {
                    node: me.clone(),
                    remote: remote.clone(),
                    hooks: hooks.clone(),
                    nodes_alive: metrics.cluster_nodes.clone(),
                    node_rooms: metrics.cluster_node_rooms.clone(),
                    loads: loads.clone(),
                    draining: draining.clone(),
                    sfu_stats: sfu.stats().clone(),
                },
                shutdown: shutdown_rx.clone(),
            };
            let nats = Arc::new(cluster::NatsFanout::start(setup).await?);
            tracing::info!(node = %cluster.node_id, "one of several nodes (NATS)");
            let placement = cluster::RoomPlacement::new(
                store.clone(),
                me,
                loads,
                sfu.stats().clone(),
                draining,
            );
            let relay = cluster::Relay::new(client, cluster.name.clone(), placement, &metrics);
            (
                nats.clone() as fanout::SharedFanout,
                Some((nats, remote, hooks, relay)),
            )
        }
        None => (Arc::new(local) as fanout::SharedFanout, None),
    };
    let mut messaging = messaging::Messaging::new(store.clone(), files, fanout, webhooks.clone())
        .with_rejoin_grace(config.rejoin_grace);
    if let Some((_, remote, _, _)) = &nats {
        messaging = messaging.with_remote_presence(remote.clone());
    }
    let messaging = Arc::new(messaging);
    let relay = nats.map(|(nats, _, hooks, relay)| {
        cluster::connect_messaging(&nats, &hooks, &messaging);
        let weak = Arc::downgrade(&relay);
        let _ = hooks.gone.set(Box::new(move |nodes| {
            if let Some(relay) = weak.upgrade() {
                tokio::spawn(async move { relay.node_gone(&nodes).await });
            }
        }));
        relay
    });
    messaging.spawn_typing_sweeper(shutdown_rx.clone());
    messaging.spawn_upload_sweeper(config.unsent_upload_ttl, shutdown_rx.clone());
    messaging.recover_invitations().await;
    if config.cluster.is_some() {
        messaging.spawn_invitation_sweeper(INVITATION_SWEEP, shutdown_rx.clone());
    }
    match store.end_room_visits().await {
        Ok(0) => {}
        Ok(ended) => tracing::info!(ended, "room conversation visits of the last run ended"),
        Err(err) => tracing::warn!(%err, "could not end the last run's room visits"),
    }

    let state = state::AppState {
        messaging,
        webhooks,
        rooms: Arc::new(rooms::RoomRegistry::default()),
        config: Arc::new(config),
        metrics,
        sfu,
        tokens,
        store,
        media_sessions: whip::MediaSessions::default(),
        session_rate: Arc::default(),
        shutdown: shutdown_rx.clone(),
        parked: Arc::default(),
        relay: relay.clone(),
        draining,
    };
    if let Some(relay) = relay {
        cluster::relay::start(relay.clone(), state.clone()).await?;
        cluster::api::serve(relay.clone(), state.clone()).await?;
        tokio::spawn(cluster::rooms::keep_claims(relay, state.clone()));
    }
    Ok(state)
}
