//! Presence over several nodes: each node publishes its own view of the people with devices
//! on it (`parley.presence`, a change at a time, or everything it has when another node
//! appears) and a heartbeat (`parley.nodes`) every [`HEARTBEAT`]; each node keeps the others'
//! views while their heartbeats come ([`RemotePresence`]) and forgets a node silent for
//! [`NODE_SILENT_AFTER`], whose people's contacts then hear of the change from the node with
//! the lowest id (once, not once per node).

use super::{frame, unframe, Topic};
use crate::messaging::presence::RemotePresence;
use crate::protocol::chat::PresenceInfo;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not heard from for this long is gone: its devices no longer count.
pub const NODE_SILENT_AFTER: Duration = Duration::from_secs(6);

#[derive(Serialize, Deserialize)]
struct PresenceHeader {
    node: String,
    /// The body is everyone with a device on `node` (else only changes).
    full: bool,
}

#[derive(Serialize, Deserialize)]
struct Heartbeat {
    node: String,
    /// Rooms open on the node (its `parley_rooms`).
    #[serde(default)]
    rooms: u64,
    /// Stopping: no new room goes there.
    #[serde(default)]
    draining: bool,
}

/// Who is in a call room on `node`: `(identity, in a call)` changes, or everyone (`full`).
#[derive(Serialize, Deserialize)]
struct InCall {
    node: String,
    full: bool,
    people: Vec<(String, bool)>,
}

type LocalPeople = Box<dyn Fn() -> Vec<PresenceInfo> + Send + Sync>;
type LocalInCall = Box<dyn Fn() -> Vec<String> + Send + Sync>;
type Lost = Box<dyn Fn(Vec<String>) + Send + Sync>;
type Gone = Box<dyn Fn(Vec<String>) + Send + Sync>;

/// What the cluster's presence needs from the node's messaging, set once it exists.
#[derive(Default)]
pub struct PresenceHooks {
    /// Everyone with a device here.
    pub local_people: OnceLock<LocalPeople>,
    /// Everyone in a call room here.
    pub local_in_call: OnceLock<LocalInCall>,
    /// These people's devices were on a node that went silent.
    pub lost: OnceLock<Lost>,
    /// These nodes went silent (every node hears of it; relayed rooms and claims end).
    pub gone: OnceLock<Gone>,
}

/// This node's side of cluster presence.
pub struct ClusterPresence {
    pub node: String,
    pub remote: Arc<Mutex<RemotePresence>>,
    pub hooks: Arc<PresenceHooks>,
    pub nodes_alive: prometheus::IntGauge,
    /// Rooms per node as each heartbeat says (`parley_cluster_node_rooms{node}`).
    pub node_rooms: prometheus::IntGaugeVec,
    /// Each other live node's rooms, for placing new rooms (`rooms.rs`).
    pub loads: super::rooms::Loads,
    /// This node is stopping (`Server::drain`), said in its heartbeats.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// This node's media plane (its rooms, for its heartbeat).
    pub sfu_stats: std::sync::Arc<sfu::SfuStats>,
}

/// The `--node-id` part of a node's name (what the rooms gauge is labelled with).
fn node_id(node: &str) -> &str {
    node.split('/').next().unwrap_or(node)
}

impl ClusterPresence {
    /// A change of this node's view of someone, for the other nodes.
    pub fn change(&self, here: &PresenceInfo) -> Option<bytes::Bytes> {
        self.framed(false, std::slice::from_ref(here))
    }

    fn framed(&self, full: bool, people: &[PresenceInfo]) -> Option<bytes::Bytes> {
        let header = PresenceHeader {
            node: self.node.clone(),
            full,
        };
        frame(&header, &serde_json::to_string(people).ok()?)
    }

    /// Someone entered (`true`) or left every call room here, for the other nodes.
    pub fn in_call(&self, identity: &str, in_call: bool) -> Option<bytes::Bytes> {
        let message = InCall {
            node: self.node.clone(),
            full: false,
            people: vec![(identity.to_owned(), in_call)],
        };
        frame(&message, "")
    }

    /// Everyone in a call room here, for a node that just appeared.
    fn everyone_in_call(&self) -> Option<bytes::Bytes> {
        let people = self
            .hooks
            .local_in_call
            .get()
            .map(|f| f())
            .unwrap_or_default();
        let message = InCall {
            node: self.node.clone(),
            full: true,
            people: people.into_iter().map(|i| (i, true)).collect(),
        };
        frame(&message, "")
    }

    /// Another node's in-call message.
    pub fn on_in_call(&self, payload: &[u8]) {
        let Some((message, _)) = unframe::<InCall>(payload) else {
            return;
        };
        if let Ok(mut remote) = self.remote.lock() {
            remote.update_in_call(&message.node, message.people, message.full, Instant::now());
        }
    }

    pub fn heartbeat(&self) -> Option<bytes::Bytes> {
        let rooms = sfu::SfuStats::get(&self.sfu_stats.rooms);
        self.node_rooms
            .with_label_values(&[node_id(&self.node)])
            .set(rooms as i64);
        let beat = Heartbeat {
            node: self.node.clone(),
            rooms,
            draining: self.draining.load(std::sync::atomic::Ordering::Relaxed),
        };
        frame(&beat, "")
    }

    /// Another node's presence message.
    pub fn on_presence(&self, payload: &[u8]) {
        let Some((header, body)) = unframe::<PresenceHeader>(payload) else {
            tracing::warn!("a malformed presence message from NATS was dropped");
            return;
        };
        let Ok(people) = serde_json::from_str::<Vec<PresenceInfo>>(body) else {
            return;
        };
        if let Ok(mut remote) = self.remote.lock() {
            remote.update(&header.node, people, header.full, Instant::now());
        }
    }

    /// A heartbeat: a node not known yet is sent everything this node has (returned, to
    /// publish).
    pub fn on_heartbeat(&self, payload: &[u8]) -> Option<[(Topic, bytes::Bytes); 2]> {
        let (beat, _) = unframe::<Heartbeat>(payload)?;
        if beat.node != self.node {
            self.node_rooms
                .with_label_values(&[node_id(&beat.node)])
                .set(beat.rooms as i64);
            if let Ok(mut loads) = self.loads.lock() {
                let load = super::rooms::Load {
                    rooms: beat.rooms,
                    draining: beat.draining,
                };
                loads.insert(beat.node.clone(), load);
            }
        }
        let (new, alive) = {
            let mut remote = self.remote.lock().ok()?;
            (remote.heard(&beat.node, Instant::now()), remote.alive())
        };
        if !new {
            return None;
        }
        self.nodes_alive.set(alive as i64);
        tracing::info!(node = %beat.node, "another node joined");
        let people = self
            .hooks
            .local_people
            .get()
            .map(|f| f())
            .unwrap_or_default();
        Some([
            (Topic::Presence, self.framed(true, &people)?),
            (Topic::InCall, self.everyone_in_call()?),
        ])
    }

    /// This node's NATS connection is down: nobody is declared gone meanwhile (their silence
    /// is this node's deafness; a room's node is not written off during a NATS blip).
    pub fn hold(&self) {
        if let Ok(mut remote) = self.remote.lock() {
            remote.hold(Instant::now());
        }
    }

    /// Forgets silent nodes; the lowest-id node tells the contacts of their people.
    pub fn expire(&self) {
        let (gone, lowest, alive) = {
            let Ok(mut remote) = self.remote.lock() else {
                return;
            };
            let gone = remote.expire(Instant::now(), NODE_SILENT_AFTER);
            (gone, remote.is_lowest(), remote.alive())
        };
        self.nodes_alive.set(alive as i64);
        for node in &gone.nodes {
            tracing::warn!(node = %node, "a node went silent; its devices no longer count");
            let _ = self.node_rooms.remove_label_values(&[node_id(node)]);
            if let Ok(mut loads) = self.loads.lock() {
                loads.remove(node);
            }
        }
        if !gone.nodes.is_empty() {
            if let Some(hook) = self.hooks.gone.get() {
                hook(gone.nodes.clone());
            }
        }
        if gone.people.is_empty() || !lowest {
            return;
        }
        if let Some(lost) = self.hooks.lost.get() {
            lost(gone.people);
        }
    }
}
