//! The one seam chat events cross on their way to people's devices: [`LocalFanout`] delivers
//! to the devices on this node; with several nodes, `cluster::NatsFanout` also publishes each
//! event once over NATS for the other nodes to deliver to theirs.
//!
//! Events are serialized once and shared by every device that gets them. A device's queue is
//! bounded in events ([`DEVICE_QUEUE`]) and in bytes ([`DEVICE_QUEUE_BYTES`]); a device over
//! either is cut off rather than buffered without bound: its socket closes with
//! `resync_required`, the client reconnects and `chat_sync`s, so nothing is lost.

use crate::protocol::ServerMessage;
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Events waiting for one device before it is cut off.
pub const DEVICE_QUEUE: usize = 1024;
/// Bytes of events waiting for one device before it is cut off (small events would otherwise
/// let a device that stopped reading hold a thousand of them).
pub const DEVICE_QUEUE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u64);

/// One connected device: the events for it arrive on `events`. Closed (`None`) means it fell
/// behind and must resync.
pub struct Device {
    pub id: DeviceId,
    pub identity: String,
    pub events: DeviceEvents,
}

/// A device's queue of serialized events, counted in events and bytes.
pub struct DeviceEvents {
    rx: mpsc::Receiver<Utf8Bytes>,
    queued_bytes: Arc<AtomicUsize>,
}

impl DeviceEvents {
    /// The next event; `None` once the device was cut off (after what was queued before).
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        let event = self.rx.recv().await?;
        self.queued_bytes.fetch_sub(event.len(), Ordering::Relaxed);
        Some(event)
    }

    /// An event already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let event = self.rx.try_recv().ok()?;
        self.queued_bytes.fetch_sub(event.len(), Ordering::Relaxed);
        Some(event)
    }
}

/// The fan-out's end of a device's queue.
struct DeviceSender {
    tx: mpsc::Sender<Utf8Bytes>,
    queued_bytes: Arc<AtomicUsize>,
}

/// What became of an event offered to a device.
#[derive(Debug, PartialEq, Eq)]
enum Offer {
    Queued,
    /// Over a bound: the device must be cut off.
    Full,
    /// The device is gone.
    Closed,
}

impl DeviceSender {
    fn queue() -> (Self, DeviceEvents) {
        let (tx, rx) = mpsc::channel(DEVICE_QUEUE);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let events = DeviceEvents {
            rx,
            queued_bytes: queued_bytes.clone(),
        };
        (Self { tx, queued_bytes }, events)
    }

    fn offer(&self, event: &Utf8Bytes) -> Offer {
        let queued = self.queued_bytes.fetch_add(event.len(), Ordering::Relaxed) + event.len();
        if queued > DEVICE_QUEUE_BYTES {
            return Offer::Full;
        }
        match self.tx.try_send(event.clone()) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }
}

pub trait Fanout: Send + Sync + 'static {
    fn attach(&self, identity: &str) -> Device;
    fn detach(&self, identity: &str, device: DeviceId);
    /// Delivers `event` to every device of every identity in `to`, except `skip`.
    fn send(&self, to: &[String], event: &ServerMessage, skip: Option<DeviceId>);
    /// How many devices an identity has connected here.
    fn device_count(&self, identity: &str) -> usize;
    /// Delivers `event` to one device (e.g. what it missed while it was not connected).
    fn send_to_device(&self, identity: &str, device: DeviceId, event: &ServerMessage);
    /// A conversation's membership changed on this node: other nodes' cached audiences of it
    /// are stale (nothing to do on a single node).
    fn membership_changed(&self, _conversation: &str) {}
    /// This node's view of someone's presence changed: other nodes combine it with theirs
    /// (nothing to do on a single node).
    fn presence_changed(&self, _here: &crate::protocol::chat::PresenceInfo) {}
    /// Someone's first session on this node entered a call room (`true`) or their last left
    /// it: other nodes count them busy (nothing to do on a single node).
    fn in_call_changed(&self, _identity: &str, _in_call: bool) {}
}

pub struct LocalFanout {
    next: AtomicU64,
    devices: Mutex<HashMap<String, HashMap<DeviceId, DeviceSender>>>,
    /// Devices cut off (`parley_chat_device_cutoffs_total`).
    cutoffs: prometheus::IntCounter,
}

impl LocalFanout {
    pub fn new(cutoffs: prometheus::IntCounter) -> Self {
        Self {
            next: AtomicU64::new(0),
            devices: Mutex::default(),
            cutoffs,
        }
    }
}

impl Default for LocalFanout {
    /// Counting cut-offs nowhere (tests).
    fn default() -> Self {
        Self::new(prometheus::IntCounter::new("chat_device_cutoffs", "-").expect("valid name"))
    }
}

impl Fanout for LocalFanout {
    fn attach(&self, identity: &str) -> Device {
        let id = DeviceId(self.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = DeviceSender::queue();
        if let Ok(mut devices) = self.devices.lock() {
            devices
                .entry(identity.to_owned())
                .or_default()
                .insert(id, tx);
        }
        Device {
            id,
            identity: identity.to_owned(),
            events: rx,
        }
    }

    fn detach(&self, identity: &str, device: DeviceId) {
        if let Ok(mut devices) = self.devices.lock() {
            if let Some(mine) = devices.get_mut(identity) {
                mine.remove(&device);
                if mine.is_empty() {
                    devices.remove(identity);
                }
            }
        }
    }

    fn send(&self, to: &[String], event: &ServerMessage, skip: Option<DeviceId>) {
        let Ok(text) = serde_json::to_string(event) else {
            return;
        };
        self.deliver(to, &Utf8Bytes::from(text), skip);
    }

    fn device_count(&self, identity: &str) -> usize {
        self.devices
            .lock()
            .map(|d| d.get(identity).map_or(0, HashMap::len))
            .unwrap_or(0)
    }

    fn send_to_device(&self, identity: &str, device: DeviceId, event: &ServerMessage) {
        let Ok(text) = serde_json::to_string(event) else {
            return;
        };
        self.deliver_to_device(identity, device, &Utf8Bytes::from(text));
    }
}

impl LocalFanout {
    /// Delivers a serialized event to every device here of every identity in `to`, except
    /// `skip` (the cluster fan-out delivers other nodes' events with it).
    pub fn deliver(&self, to: &[String], text: &Utf8Bytes, skip: Option<DeviceId>) {
        let Ok(mut devices) = self.devices.lock() else {
            return;
        };
        for identity in to {
            let Some(mine) = devices.get_mut(identity) else {
                continue;
            };
            mine.retain(|id, tx| {
                if Some(*id) == skip {
                    return true;
                }
                match tx.offer(text) {
                    Offer::Queued => true,
                    Offer::Full => {
                        self.cutoffs.inc();
                        tracing::warn!(
                            device = id.0,
                            "chat device fell behind; cutting it off to resync"
                        );
                        false
                    }
                    Offer::Closed => false,
                }
            });
        }
    }

    fn deliver_to_device(&self, identity: &str, device: DeviceId, text: &Utf8Bytes) {
        let Ok(mut devices) = self.devices.lock() else {
            return;
        };
        let Some(mine) = devices.get_mut(identity) else {
            return;
        };
        if let Some(tx) = mine.get(&device) {
            match tx.offer(text) {
                Offer::Queued => {}
                // Cut off: it resyncs rather than miss this event.
                Offer::Full => {
                    self.cutoffs.inc();
                    mine.remove(&device);
                }
                Offer::Closed => {
                    mine.remove(&device);
                }
            }
        }
    }
}

pub type SharedFanout = Arc<dyn Fanout>;

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> ServerMessage {
        ServerMessage::ChatTyping {
            conversation: format!("c{n}"),
            identity: "ana".into(),
            typing: true,
        }
    }

    #[tokio::test]
    async fn every_device_of_every_recipient_gets_it_except_the_skipped_one() {
        let hub = LocalFanout::default();
        let mut ana1 = hub.attach("ana");
        let mut ana2 = hub.attach("ana");
        let mut ben = hub.attach("ben");
        let mut cy = hub.attach("cy");
        hub.send(&["ana".into(), "ben".into()], &event(1), Some(ana1.id));
        assert!(ana2
            .events
            .recv()
            .await
            .unwrap()
            .as_str()
            .contains("\"c1\""));
        assert!(ben.events.recv().await.unwrap().as_str().contains("\"c1\""));
        assert!(ana1.events.try_recv().is_none());
        assert!(cy.events.try_recv().is_none());
        assert_eq!(hub.device_count("ana"), 2);
        hub.detach("ana", ana1.id);
        hub.detach("ana", ana2.id);
        assert_eq!(hub.device_count("ana"), 0);
    }

    #[tokio::test]
    async fn a_device_that_falls_behind_is_cut_off_and_others_are_not() {
        let hub = LocalFanout::default();
        let mut slow = hub.attach("ana");
        let mut fast = hub.attach("ana");
        for n in 0..DEVICE_QUEUE as i64 {
            hub.send(&["ana".into()], &event(n), None);
            fast.events.recv().await.unwrap();
        }
        hub.send(&["ana".into()], &event(-1), None);
        assert!(fast.events.recv().await.is_some());
        let mut drained = 0;
        while slow.events.recv().await.is_some() {
            drained += 1;
        }
        assert_eq!(drained, DEVICE_QUEUE, "the queue, then closed");
        assert_eq!(hub.device_count("ana"), 1);
    }

    #[tokio::test]
    async fn a_device_holding_too_many_bytes_is_cut_off_before_the_event_count_bound() {
        let hub = LocalFanout::default();
        let mut slow = hub.attach("ana");
        let big = ServerMessage::ChatTyping {
            conversation: "c".repeat(16 * 1024),
            identity: "ana".into(),
            typing: true,
        };
        let per_event = serde_json::to_string(&big).unwrap().len();
        let fits = DEVICE_QUEUE_BYTES / per_event;
        assert!(fits < DEVICE_QUEUE / 4, "the byte bound is the one tested");
        for _ in 0..=fits {
            hub.send(&["ana".into()], &big, None);
        }
        let mut drained = 0;
        while slow.events.recv().await.is_some() {
            drained += 1;
        }
        assert_eq!(drained, fits, "what fit, then closed");
        assert_eq!(hub.device_count("ana"), 0);
    }
}
