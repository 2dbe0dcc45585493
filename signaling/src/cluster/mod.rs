//! Several Parley nodes as one service, on NATS (`--nats-url`) and a shared PostgreSQL store.
//! Without `--nats-url` none of this runs and the node is exactly a single server.
//!
//! What crosses NATS today (subjects under the cluster's name, `--cluster-name`, default
//! `parley`; payloads are a one-line JSON header, a newline, then the event as clients
//! receive it):
//! - `parley.chat.fanout`: every chat event a node fans out (messages, receipts, typing,
//!   presence, call ringing) with the identities it is for; every other node delivers it to the
//!   devices of those identities it holds ([`NatsFanout`]).
//! - `parley.chat.members`: a conversation's membership changed; every other node forgets its
//!   cached audience of it.
//! - `parley.presence` and `parley.nodes`: each node's view of the people with devices on it,
//!   and its heartbeat; presence combines every live node's view (`presence.rs`).
//! - `parley.calls.in_call`: who entered or left every call room on a node, so an invitation
//!   from another node finds them busy.
//! - `parley.relay.<node>` and `parley.relay.<node>.events`: signaling of a socket on one node
//!   for a room held by another (`relay.rs`); which node holds a room is a claim in the shared
//!   store (`rooms.rs`).
//! - `parley.api.<node>`: server-API requests about a room, answered by its node (`api.rs`).
//!
//! NATS being down never stops a node: what it sends meanwhile is counted as lost
//! (`parley_cluster_publish_failures_total`) and devices elsewhere catch up with `chat_sync`;
//! the client reconnects by itself (async-nats).

pub mod api;
mod fanout;
mod held;
mod presence;
pub mod relay;
pub mod rooms;

pub use fanout::{NatsFanout, Setup};
pub use presence::{ClusterPresence, PresenceHooks};
pub use relay::{Relay, RelayedEvent, RemoteRoom};
pub use rooms::RoomPlacement;

use crate::config::ClusterConfig;
use std::time::Duration;

/// What crosses NATS, each on its subject under the cluster's name (`--cluster-name`, so
/// deployments sharing a NATS server never hear each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Chat events fanned out to other nodes.
    Fanout,
    /// Conversation membership changes (cache invalidation).
    Members,
    /// Each node's view of presence.
    Presence,
    /// Heartbeats.
    Nodes,
    /// Who entered or left call rooms.
    InCall,
}

impl Topic {
    /// The subject under cluster `name`.
    pub fn subject(self, name: &str) -> String {
        let suffix = match self {
            Topic::Fanout => "chat.fanout",
            Topic::Members => "chat.members",
            Topic::Presence => "presence",
            Topic::Nodes => "nodes",
            Topic::InCall => "calls.in_call",
        };
        format!("{name}.{suffix}")
    }
}
/// Messages waiting to be published before new ones are counted as lost.
pub const PUBLISH_QUEUE: usize = 8192;
/// How long one publish may wait for the NATS client (it buffers while reconnecting).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("NATS: {0}")]
    Nats(String),
}

/// Connects to NATS. Returns at once even if NATS is not reachable yet: the client keeps
/// trying, and the node serves its own clients meanwhile.
pub async fn connect(config: &ClusterConfig) -> Result<async_nats::Client, ClusterError> {
    let node = config.node_id.clone();
    async_nats::ConnectOptions::new()
        .name(format!("parley-{}", config.node_id))
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let node = node.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!(%node, "connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!(%node, "NATS connection lost; reconnecting")
                    }
                    other => tracing::debug!(%node, event = ?other, "NATS"),
                }
            }
        })
        .connect(config.nats_urls.join(",").as_str())
        .await
        .map_err(|e| ClusterError::Nats(e.to_string()))
}

/// This process's name among the nodes: its `--node-id` and a random suffix, so a node
/// restarted under the same id is a new node to the others (they send it their presence).
pub fn incarnation(node_id: &str) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!(
        "{node_id}/{}",
        Alphanumeric.sample_string(&mut rand::rng(), 8)
    )
}

/// Points what the cluster learns at this node's messaging: other nodes' membership changes
/// drop cached audiences, a node that joins gets this node's presence, a node gone silent
/// changes its people's presence.
pub fn connect_messaging(
    nats: &NatsFanout,
    hooks: &PresenceHooks,
    messaging: &std::sync::Arc<crate::messaging::Messaging>,
) {
    let weak = std::sync::Arc::downgrade(messaging);
    nats.on_membership_change(move |conversation| {
        if let Some(messaging) = weak.upgrade() {
            messaging.forget_cached_audience(conversation);
        }
    });
    let weak = std::sync::Arc::downgrade(messaging);
    let _ = hooks.local_people.set(Box::new(move || {
        weak.upgrade()
            .map(|m| m.local_presence())
            .unwrap_or_default()
    }));
    let weak = std::sync::Arc::downgrade(messaging);
    let _ = hooks.local_in_call.set(Box::new(move || {
        weak.upgrade()
            .map(|m| m.local_in_call())
            .unwrap_or_default()
    }));
    let weak = std::sync::Arc::downgrade(messaging);
    let _ = hooks.lost.set(Box::new(move |people| {
        if let Some(messaging) = weak.upgrade() {
            tokio::spawn(async move { messaging.presence_lost_elsewhere(people).await });
        }
    }));
}

/// A message for other nodes: `header` as one JSON line, then `body`.
pub(crate) fn frame(header: &impl serde::Serialize, body: &str) -> Option<bytes::Bytes> {
    let mut payload = serde_json::to_vec(header).ok()?;
    payload.push(b'\n');
    payload.extend_from_slice(body.as_bytes());
    Some(payload.into())
}

/// The header and body of a [`frame`]d message.
pub(crate) fn unframe<'a, H: serde::Deserialize<'a>>(payload: &'a [u8]) -> Option<(H, &'a str)> {
    let split = payload.iter().position(|&b| b == b'\n')?;
    let header = serde_json::from_slice(&payload[..split]).ok()?;
    let body = std::str::from_utf8(&payload[split + 1..]).ok()?;
    Some((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Header {
        node: String,
        to: Vec<String>,
    }

    #[test]
    #[rustfmt::skip]
    fn frames_round_trip_whatever_the_identities_hold() {
        let rows: &[(&[&str], &str)] = &[
            (&["ana", "ben"],          r#"{"type":"chat_typing"}"#),
            (&["line\nbreak", "\"q\""], "body\nwith\nnewlines"),
            (&[],                      ""),
        ];
        for (to, body) in rows {
            let header = Header { node: "n1".into(), to: to.iter().map(|s| s.to_string()).collect() };
            let framed = frame(&header, body).unwrap();
            let (back, text): (Header, &str) = unframe(&framed).unwrap();
            assert_eq!((back, text), (header, *body));
        }
        assert!(unframe::<Header>(b"no newline").is_none());
        assert!(unframe::<Header>(b"{not json\nbody").is_none());
    }
}
