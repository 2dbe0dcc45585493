//! Signaling for a room held by another node, relayed over NATS (LiveKit relays signaling to
//! a room's node the same way, over psrpc). The client's socket stays where it is (node A);
//! its room requests go to the node holding the room (node B), where a session is held for it
//! and answers as it would for a local socket; the media goes straight to B's address (the
//! candidates in B's answers).
//!
//! - `<cluster>.relay.<node>`: requests to a node (request/reply): `open` a held session with
//!   the socket's claims, a `frame` (the client's text, answered with the reply's text),
//!   `close`.
//! - `<cluster>.relay.<node>.events`: what held sessions on other nodes send the sockets on
//!   this one (room events, serialized as the client reads them), one subject per node.
//!
//! Every held session has a deadline (one not in a room for [`HELD_IDLE`] ends) and there are
//! at most [`MAX_HELD`]; a socket's queue of relayed events is bounded like a local session's.
//! A node whose heartbeats stop loses its held sessions on the others, and its sockets'
//! relayed rooms end with `goodbye {reason: "migrate"}` (the SDK rejoins, the room is placed
//! anew). Requests that cannot cross (NATS down, the node gone) fail with `unavailable`.

use super::rooms::RoomPlacement;
use super::{frame, unframe};
use crate::auth::Claims;
use crate::protocol::ServerMessage;
use crate::state::AppState;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a relayed request may take before it fails with `unavailable`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Sessions a node holds for other nodes' sockets at most.
pub const MAX_HELD: usize = 10_000;
/// A held session not in a room for this long ends.
pub const HELD_IDLE: Duration = Duration::from_secs(30);
/// How long a stopping node waits for its held sessions to say goodbye.
pub const WIND_DOWN: Duration = Duration::from_secs(3);
/// Frames waiting for a held session at most (a socket sends one at a time).
pub(super) const HELD_QUEUE: usize = 16;

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Op {
    /// A socket on node `from` wants a session here (body: empty).
    Open {
        from: String,
        conn: u64,
        claims: Box<Claims>,
    },
    /// The socket's next request (body: its text).
    Frame { from: String, conn: u64 },
    /// The socket is gone or left the room.
    Close { from: String, conn: u64 },
}

/// A room event for socket `conn` (body: the message as the client reads it).
#[derive(Serialize, Deserialize)]
pub(super) struct EventHeader {
    pub conn: u64,
    /// The session ended with it: the socket closes after writing it.
    pub goodbye: bool,
}

/// A message from a held session on another node, for this node's socket.
#[derive(Debug)]
pub struct RelayedEvent {
    pub text: String,
    pub goodbye: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the room's node cannot be reached now ({0}); try again")]
    Unreachable(String),
}

/// A socket's room on another node: requests go there, its events come back here.
pub struct RemoteRoom {
    pub node: String,
    conn: u64,
    pub events: mpsc::Receiver<RelayedEvent>,
    relay: Arc<Relay>,
}

impl Drop for RemoteRoom {
    fn drop(&mut self) {
        self.relay.forget_link(self.conn);
        let (relay, node, conn) = (self.relay.clone(), self.node.clone(), self.conn);
        let op = Op::Close {
            from: relay.placement.me.clone(),
            conn,
        };
        // Outside a runtime (the process ending) there is nobody to tell: the session there
        // ends when this node goes silent.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = relay.send(&node, &op, "").await;
            });
        }
    }
}

struct Link {
    node: String,
    events: mpsc::Sender<RelayedEvent>,
}

pub(super) enum HeldInput {
    Frame {
        text: String,
        reply: async_nats::Subject,
    },
}

/// This node's end of relayed signaling: its sockets' rooms elsewhere (links) and the sessions
/// it holds for other nodes' sockets.
pub struct Relay {
    client: async_nats::Client,
    cluster: String,
    pub placement: RoomPlacement,
    next_conn: AtomicU64,
    links: Mutex<HashMap<u64, Link>>,
    held: Mutex<HashMap<(String, u64), mpsc::Sender<HeldInput>>>,
    failures: prometheus::IntCounter,
    held_gauge: prometheus::IntGauge,
}

fn requests(cluster: &str, node: &str) -> String {
    format!("{cluster}.relay.{node}")
}

pub(super) fn events_subject(cluster: &str, node: &str) -> String {
    format!("{cluster}.relay.{node}.events")
}

fn text_of(message: &ServerMessage) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

impl Relay {
    pub fn new(
        client: async_nats::Client,
        cluster: String,
        placement: RoomPlacement,
        metrics: &crate::metrics::Metrics,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            cluster,
            placement,
            next_conn: AtomicU64::new(1),
            links: Mutex::default(),
            held: Mutex::default(),
            failures: metrics.cluster_relay_failures_total.clone(),
            held_gauge: metrics.cluster_relayed_sessions.clone(),
        })
    }

    pub fn me(&self) -> &str {
        &self.placement.me
    }

    async fn send(&self, node: &str, op: &Op, body: &str) -> Result<(), RelayError> {
        let payload = frame(op, body).ok_or(RelayError::Unreachable("encoding".into()))?;
        self.client
            .publish(requests(&self.cluster, node), payload)
            .await
            .map_err(|e| RelayError::Unreachable(e.to_string()))
    }

    async fn request(&self, node: &str, op: &Op, body: &str) -> Result<String, RelayError> {
        let payload = frame(op, body).ok_or(RelayError::Unreachable("encoding".into()))?;
        let answer = self.ask(requests(&self.cluster, node), payload).await?;
        String::from_utf8(answer.to_vec()).map_err(|_| self.failed("not text".into()))
    }

    /// A NATS request to another node within [`REQUEST_TIMEOUT`]; a failure is counted and
    /// logged. Every request between nodes goes through here.
    pub(super) async fn ask(
        &self,
        subject: String,
        payload: bytes::Bytes,
    ) -> Result<bytes::Bytes, RelayError> {
        let asked = self.client.request(subject, payload);
        match tokio::time::timeout(REQUEST_TIMEOUT, asked).await {
            Ok(Ok(answer)) => Ok(answer.payload),
            Ok(Err(err)) => Err(self.failed(err.to_string())),
            Err(_) => Err(self.failed("no answer in time".into())),
        }
    }

    fn failed(&self, why: String) -> RelayError {
        self.failures.inc();
        tracing::warn!(why = %why, "a relayed request failed");
        RelayError::Unreachable(why)
    }

    /// Opens a session on `node` for this node's socket with `claims`.
    pub async fn open(
        self: &Arc<Self>,
        node: &str,
        claims: &Claims,
    ) -> Result<RemoteRoom, RelayError> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(sfu::EVENT_QUEUE);
        if let Ok(mut links) = self.links.lock() {
            let link = Link {
                node: node.to_owned(),
                events: tx,
            };
            links.insert(conn, link);
        }
        // From here the link is owned: dropping it closes the session there.
        let remote = RemoteRoom {
            node: node.to_owned(),
            conn,
            events: rx,
            relay: self.clone(),
        };
        let op = Op::Open {
            from: self.me().to_owned(),
            conn,
            claims: Box::new(claims.clone()),
        };
        let answer = self.request(node, &op, "").await?;
        if answer.is_empty() {
            Ok(remote)
        } else {
            Err(RelayError::Unreachable(answer))
        }
    }

    /// The client's request `text`, answered by the session on the room's node.
    pub async fn frame(&self, remote: &RemoteRoom, text: &str) -> Result<String, RelayError> {
        let op = Op::Frame {
            from: self.me().to_owned(),
            conn: remote.conn,
        };
        let answer = self.request(&remote.node, &op, text).await?;
        if answer.starts_with('{') {
            Ok(answer)
        } else {
            Err(RelayError::Unreachable(answer))
        }
    }

    pub(super) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub(super) fn cluster(&self) -> &str {
        &self.cluster
    }

    pub(super) fn count_failure(&self) {
        self.failures.inc();
    }

    /// Registers a held session for socket `conn` of node `from`; `false` at the limit.
    pub(super) fn hold(
        &self,
        from: &str,
        conn: u64,
        input: mpsc::Sender<HeldInput>,
        max: usize,
    ) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        if held.len() >= max {
            return false;
        }
        held.insert((from.to_owned(), conn), input);
        self.held_gauge.set(held.len() as i64);
        true
    }

    pub(super) fn held_input(&self, from: &str, conn: u64) -> Option<mpsc::Sender<HeldInput>> {
        let held = self.held.lock().ok()?;
        held.get(&(from.to_owned(), conn)).cloned()
    }

    /// The held session's socket is gone: its session ends (it sees its inputs closed).
    pub(super) fn drop_held(&self, from: &str, conn: u64) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&(from.to_owned(), conn));
            self.held_gauge.set(held.len() as i64);
        }
    }

    /// At shutdown, once sessions were told: waits (up to [`WIND_DOWN`]) for the sessions held
    /// here to end, then for what they sent to reach NATS.
    pub async fn wind_down(&self) {
        let deadline = tokio::time::Instant::now() + WIND_DOWN;
        let held = || self.held.lock().map(|h| h.len()).unwrap_or(0);
        while held() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if tokio::time::timeout(left.max(Duration::from_millis(500)), self.client.flush())
            .await
            .is_err()
        {
            tracing::warn!("NATS did not take the last messages before stopping");
        }
    }

    fn forget_link(&self, conn: u64) {
        if let Ok(mut links) = self.links.lock() {
            links.remove(&conn);
        }
    }

    /// `nodes` went silent: this node's sockets in rooms there are told to rejoin (the room is
    /// placed anew), the sessions held for sockets there end, and their claims end.
    pub async fn node_gone(&self, nodes: &[String]) {
        let bye = text_of(&ServerMessage::Goodbye {
            reason: "migrate".into(),
        });
        if let Ok(mut links) = self.links.lock() {
            links.retain(|_, link| {
                if !nodes.contains(&link.node) {
                    return true;
                }
                let event = RelayedEvent {
                    text: bye.clone(),
                    goodbye: true,
                };
                let _ = link.events.try_send(event);
                false
            });
        }
        if let Ok(mut held) = self.held.lock() {
            held.retain(|(from, _), _| !nodes.contains(from));
            self.held_gauge.set(held.len() as i64);
        }
        self.placement.node_gone(nodes).await;
    }
}

/// Serves other nodes' requests to this one and delivers held sessions' events to this node's
/// sockets, until shutdown.
pub async fn start(relay: Arc<Relay>, state: AppState) -> Result<(), super::ClusterError> {
    let nats = |e: async_nats::SubscribeError| super::ClusterError::Nats(e.to_string());
    let me = relay.me().to_owned();
    let asked = relay
        .client
        .subscribe(requests(&relay.cluster, &me))
        .await
        .map_err(nats)?;
    let told = relay
        .client
        .subscribe(events_subject(&relay.cluster, &me))
        .await
        .map_err(nats)?;
    tokio::spawn(super::held::serve(relay.clone(), state.clone(), asked));
    tokio::spawn(deliver(relay, told, state.shutdown.clone()));
    Ok(())
}

/// Held sessions' events to this node's sockets, in order.
async fn deliver(
    relay: Arc<Relay>,
    mut told: async_nats::Subscriber,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let message = tokio::select! {
            message = told.next() => message,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Some(message) = message else { return };
        let Some((header, body)) = unframe::<EventHeader>(&message.payload) else {
            continue;
        };
        let Ok(mut links) = relay.links.lock() else {
            return;
        };
        let Some(link) = links.get(&header.conn) else {
            continue;
        };
        let event = RelayedEvent {
            text: body.to_owned(),
            goodbye: header.goodbye,
        };
        if link.events.try_send(event).is_err() {
            // Fell a queue behind: the socket's room ends as too slow (its receiver sees the
            // link closed), as a local session's would.
            links.remove(&header.conn);
        }
    }
}
