//! What every request handler and session shares.

use crate::auth::TokenAuthority;
use crate::config::Config;
use crate::metrics::Metrics;
use sfu::SfuHandle;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub sfu: SfuHandle,
    pub tokens: TokenAuthority,
    pub store: chat::Store,
    /// Room configurations and lifecycle.
    pub rooms: Arc<crate::rooms::RoomRegistry>,
    pub webhooks: crate::webhooks::Webhooks,
    /// Chat requests, events and presence (shared by every connection).
    pub messaging: Arc<crate::messaging::Messaging>,
    pub metrics: Metrics,
    pub media_sessions: crate::whip::MediaSessions,
    /// How fast WHIP/WHEP sessions may be opened, per identity and per address.
    pub session_rate: Arc<crate::whip_limits::SessionRateLimits>,
    /// Flips to `true` when the server starts draining; sessions say goodbye and close.
    pub shutdown: watch::Receiver<bool>,
    /// Sessions whose socket was lost, waiting to be resumed (`session/resume.rs`).
    pub parked: Arc<crate::session::Parked>,
    /// One of several nodes: where rooms are placed and how signaling reaches them
    /// (`cluster/relay.rs`); `None` for a single node.
    pub relay: Option<Arc<crate::cluster::Relay>>,
    /// Set on SIGTERM (`Server::drain`): no new room opens here; the open ones may finish.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}
