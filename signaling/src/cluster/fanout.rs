//! Chat fan-out over NATS: each node delivers to the devices it holds (a [`LocalFanout`]) and
//! publishes the event once on [`FANOUT_SUBJECT`] for the others, which deliver it to theirs.
//! The event is serialized once; each node's device queues keep their bounds.

use super::{frame, unframe, ClusterError, FANOUT_SUBJECT, MEMBERS_SUBJECT, PUBLISH_QUEUE};
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
    node: String,
    out: mpsc::Sender<(&'static str, bytes::Bytes)>,
    /// What another node's membership change calls (set once `Messaging` exists).
    forget: Arc<OnceLock<Forget>>,
    failures: prometheus::IntCounter,
}

impl NatsFanout {
    /// Subscribes to the other nodes' events and starts publishing this node's; both tasks end
    /// at shutdown. `failures` counts events lost on the way to NATS.
    pub async fn start(
        client: async_nats::Client,
        node: String,
        local: LocalFanout,
        failures: prometheus::IntCounter,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, ClusterError> {
        let nats = |e: async_nats::SubscribeError| ClusterError::Nats(e.to_string());
        let events = client.subscribe(FANOUT_SUBJECT).await.map_err(nats)?;
        let members = client.subscribe(MEMBERS_SUBJECT).await.map_err(nats)?;
        let local = Arc::new(local);
        let forget: Arc<OnceLock<Forget>> = Arc::default();
        tokio::spawn(receive(
            Receiving {
                node: node.clone(),
                local: local.clone(),
                forget: forget.clone(),
            },
            events,
            members,
            shutdown.clone(),
        ));
        let (out, queue) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish(client, queue, failures.clone(), shutdown));
        Ok(Self {
            local,
            node,
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

    fn publish(&self, subject: &'static str, payload: Option<bytes::Bytes>) {
        let Some(payload) = payload else {
            return;
        };
        if self.out.try_send((subject, payload)).is_err() {
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
        self.publish(FANOUT_SUBJECT, frame(&header, &text));
        self.local.deliver(to, &Utf8Bytes::from(text), skip);
    }

    fn device_count(&self, identity: &str) -> usize {
        self.local.device_count(identity)
    }

    fn send_to_device(&self, identity: &str, device: DeviceId, event: &ServerMessage) {
        self.local.send_to_device(identity, device, event);
    }

    fn membership_changed(&self, conversation: &str) {
        let header = MembersHeader {
            node: self.node.clone(),
            conversation: conversation.to_owned(),
        };
        self.publish(MEMBERS_SUBJECT, frame(&header, ""));
    }
}

struct Receiving {
    node: String,
    local: Arc<LocalFanout>,
    forget: Arc<OnceLock<Forget>>,
}

/// Delivers other nodes' events to this node's devices, and forgets audiences they changed.
async fn receive(
    at: Receiving,
    mut events: async_nats::Subscriber,
    mut members: async_nats::Subscriber,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
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

/// Publishes what this node queued, each publish bounded in time (the client buffers while
/// reconnecting; past the bound the event is counted lost and `chat_sync` repairs it).
async fn publish(
    client: async_nats::Client,
    mut queue: mpsc::Receiver<(&'static str, bytes::Bytes)>,
    failures: prometheus::IntCounter,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (subject, payload) = tokio::select! {
            next = queue.recv() => match next {
                Some(next) => next,
                None => break,
            },
            _ = shutdown.changed() => break,
        };
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
