//! Chat fan-out over NATS: each node delivers to the devices it holds (a [`LocalFanout`]) and
//! publishes the event once on [`FANOUT_SUBJECT`] for the others, which deliver it to theirs.
//! The event is serialized once; each node's device queues keep their bounds.

use super::presence::{ClusterPresence, HEARTBEAT};
use super::{frame, unframe, ClusterError, Topic, PUBLISH_QUEUE};
use crate::fanout::{Device, DeviceId, Fanout, LocalFanout};
use crate::protocol::ServerMessage;
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, watch};

/// Who sent an event and for whom.
#[derive(Serialize, Deserialize)]
struct EventHeader {
    node: String,
    to: Vec<String>,
}

/// A conversation whose membership changed on `node`.
#[derive(Serialize, Deserialize)]
struct MembersHeader {
    node: String,
    conversation: String,
}

type Forget = Box<dyn Fn(&str) + Send + Sync>;

pub struct NatsFanout {
    local: Arc<LocalFanout>,
    /// This process among the nodes: its node id and a random incarnation, so a node
    /// restarted under the same id is a new one to the others.
    node: String,
    presence: Arc<ClusterPresence>,
    out: mpsc::Sender<(Topic, bytes::Bytes)>,
    /// What another node's membership change calls (set once `Messaging` exists).
    forget: Arc<OnceLock<Forget>>,
    failures: prometheus::IntCounter,
}

/// What [`NatsFanout::start`] needs.
pub struct Setup {
    pub client: async_nats::Client,
    /// The cluster's name: every subject is under it.
    pub cluster: String,
    /// This process among the nodes ([`super::incarnation`]).
    pub node: String,
    pub local: LocalFanout,
    /// Counts events lost on the way to NATS.
    pub failures: prometheus::IntCounter,
    pub presence: ClusterPresence,
    pub shutdown: watch::Receiver<bool>,
}

impl NatsFanout {
    /// Subscribes to the other nodes' events and starts publishing this node's and its
    /// heartbeats; every task ends at shutdown.
    pub async fn start(setup: Setup) -> Result<Self, ClusterError> {
        let Setup {
            client,
            cluster,
            node,
            local,
            failures,
            presence,
            shutdown,
        } = setup;
        let nats = |e: async_nats::SubscribeError| ClusterError::Nats(e.to_string());
        let subscriptions = Subscriptions {
            events: client
                .subscribe(Topic::Fanout.subject(&cluster))
                .await
                .map_err(nats)?,
            members: client
                .subscribe(Topic::Members.subject(&cluster))
                .await
                .map_err(nats)?,
            presence: client
                .subscribe(Topic::Presence.subject(&cluster))
                .await
                .map_err(nats)?,
            nodes: client
                .subscribe(Topic::Nodes.subject(&cluster))
                .await
                .map_err(nats)?,
            in_call: client
                .subscribe(Topic::InCall.subject(&cluster))
                .await
                .map_err(nats)?,
        };
        let local = Arc::new(local);
        let forget: Arc<OnceLock<Forget>> = Arc::default();
        let presence = Arc::new(presence);
        let (out, queue) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(receive(
            Receiving {
                node: node.clone(),
                local: local.clone(),
                forget: forget.clone(),
                presence: presence.clone(),
                out: out.clone(),
            },
            subscriptions,
            shutdown.clone(),
        ));
        tokio::spawn(heartbeats(
            presence.clone(),
            out.clone(),
            client.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(publish(client, cluster, queue, failures.clone(), shutdown));
        Ok(Self {
            local,
            node,
            presence,
            out,
            forget,
            failures,
        })
    }

    /// What to do when another node changed a conversation's membership (forget its cached
    /// audience). Set once.
    pub fn on_membership_change(&self, forget: impl Fn(&str) + Send + Sync + 'static) {
        let _ = self.forget.set(Box::new(forget));
    }

    fn publish(&self, topic: Topic, payload: Option<bytes::Bytes>) {
        let Some(payload) = payload else {
            return;
        };
        if self.out.try_send((topic, payload)).is_err() {
            self.failures.inc();
        }
    }
}

impl Fanout for NatsFanout {
    fn attach(&self, identity: &str) -> Device {
        self.local.attach(identity)
    }

    fn detach(&self, identity: &str, device: DeviceId) {
        self.local.detach(identity, device);
    }

    fn send(&self, to: &[String], event: &ServerMessage, skip: Option<DeviceId>) {
        let Ok(text) = serde_json::to_string(event) else {
            return;
        };
        let header = EventHeader {
            node: self.node.clone(),
            to: to.to_vec(),
        };
        self.publish(Topic::Fanout, frame(&header, &text));
        self.local.deliver(to, &Utf8Bytes::from(text), skip);
    }

    fn device_count(&self, identity: &str) -> usize {
        self.local.device_count(identity)
    }

    fn send_to_device(&self, identity: &str, device: DeviceId, event: &ServerMessage) {
        self.local.send_to_device(identity, device, event);
    }

    fn presence_changed(&self, here: &crate::protocol::chat::PresenceInfo) {
        self.publish(Topic::Presence, self.presence.change(here));
    }

    fn in_call_changed(&self, identity: &str, in_call: bool) {
        self.publish(Topic::InCall, self.presence.in_call(identity, in_call));
    }

    fn membership_changed(&self, conversation: &str) {
        let header = MembersHeader {
            node: self.node.clone(),
            conversation: conversation.to_owned(),
        };
        self.publish(Topic::Members, frame(&header, ""));
    }
}

struct Receiving {
    node: String,
    local: Arc<LocalFanout>,
    forget: Arc<OnceLock<Forget>>,
    presence: Arc<ClusterPresence>,
    out: mpsc::Sender<(Topic, bytes::Bytes)>,
}

struct Subscriptions {
    events: async_nats::Subscriber,
    members: async_nats::Subscriber,
    presence: async_nats::Subscriber,
    nodes: async_nats::Subscriber,
    in_call: async_nats::Subscriber,
}

/// Delivers other nodes' events to this node's devices, forgets audiences they changed, and
/// keeps their presence.
async fn receive(
    at: Receiving,
    mut subscriptions: Subscriptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let Subscriptions {
        events,
        members,
        presence,
        nodes,
        in_call,
    } = &mut subscriptions;
    loop {
        tokio::select! {
            Some(message) = presence.next() => at.presence.on_presence(&message.payload),
            Some(message) = in_call.next() => at.presence.on_in_call(&message.payload),
            Some(message) = nodes.next() => {
                if let Some(everything) = at.presence.on_heartbeat(&message.payload) {
                    // Lost on a full queue like any publish: the next node to appear asks again.
                    for message in everything {
                        let _ = at.out.try_send(message);
                    }
                }
            }
            Some(message) = events.next() => {
                match unframe::<EventHeader>(&message.payload) {
                    Some((header, _)) if header.node == at.node => {}
                    Some((header, text)) => {
                        at.local.deliver(&header.to, &Utf8Bytes::from(text.to_owned()), None);
                    }
                    None => tracing::warn!("a malformed chat event from NATS was dropped"),
                }
            }
            Some(message) = members.next() => {
                if let Some((header, _)) = unframe::<MembersHeader>(&message.payload) {
                    if header.node != at.node {
                        if let Some(forget) = at.forget.get() {
                            forget(&header.conversation);
                        }
                    }
                }
            }
            _ = shutdown.changed() => break,
            else => break,
        }
    }
}

/// Says this node is alive every [`HEARTBEAT`] (at once too: the others answer with their
/// presence) and forgets nodes that stopped saying so.
async fn heartbeats(
    presence: Arc<ClusterPresence>,
    out: mpsc::Sender<(Topic, bytes::Bytes)>,
    client: async_nats::Client,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if let Some(beat) = presence.heartbeat() {
            let _ = out.try_send((Topic::Nodes, beat));
        }
        match client.connection_state() {
            async_nats::connection::State::Connected => presence.expire(),
            _ => presence.hold(),
        }
    }
}

/// Publishes what this node queued, each publish bounded in time (the client buffers while
/// reconnecting; past the bound the event is counted lost and `chat_sync` repairs it).
async fn publish(
    client: async_nats::Client,
    cluster: String,
    mut queue: mpsc::Receiver<(Topic, bytes::Bytes)>,
    failures: prometheus::IntCounter,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (topic, payload) = tokio::select! {
            next = queue.recv() => match next {
                Some(next) => next,
                None => break,
            },
            _ = shutdown.changed() => break,
        };
        let subject = topic.subject(&cluster);
        let sent = tokio::time::timeout(super::PUBLISH_TIMEOUT, client.publish(subject, payload));
        match sent.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                failures.inc();
                tracing::debug!(%err, "NATS publish failed");
            }
            Err(_) => {
                failures.inc();
                tracing::debug!("NATS publish timed out");
            }
        }
    }
}
