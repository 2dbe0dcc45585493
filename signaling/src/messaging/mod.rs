//! Chat on the same WebSocket as calls, and over REST: the `chat_*` and `presence*` requests,
//! the events they cause, presence and typing. Storage is the `chat` crate; delivery to
//! devices goes through the [`Fanout`](crate::fanout::Fanout) seam only.
//!
//! Layout: this file holds [`Messaging`] (shared by every connection) and a connection's
//! [`ChatDevice`]; `ops.rs` answers each request; `convert.rs` maps the store's model and
//! errors to the protocol; `erase.rs` deletes a person's data on request; `uploads.rs` deletes
//! uploads never sent; `http.rs` is the REST API; `presence.rs` and `typing.rs` are the pure
//! state behind those events.

mod calls;
mod convert;
mod erase;
pub mod http;
mod ops;
mod order;
pub mod presence;
pub mod typing;
mod uploads;

use crate::fanout::{DeviceId, SharedFanout};
use crate::protocol::chat::{MemberChange, PresenceInfo, PresenceStatus};
use crate::protocol::{ErrorCode, ServerMessage};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use presence::Presence;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use typing::Typing;

/// What a chat request answers: its reply, or an error code with a message.
pub type ChatResult = Result<ServerMessage, (ErrorCode, String)>;

/// Sends per second a connection may make, and the burst it may save up.
/// Members of a group someone starts or grows themselves (WebSocket or REST), owner included:
/// a participant must not make a conversation the size of a broadcast. Room conversations,
/// which grow as people join a room, have the store's own, larger limit.
pub const MAX_GROUP_MEMBERS: usize = 100;

/// Refuses a group of `count` members past [`MAX_GROUP_MEMBERS`].
pub fn check_group_size(count: usize) -> Result<(), chat::StoreError> {
    if count > MAX_GROUP_MEMBERS {
        return Err(chat::StoreError::TooLarge {
            unit: "members",
            what: "group",
            size: count as u64,
            limit: MAX_GROUP_MEMBERS as u64,
        });
    }
    Ok(())
}

const SENDS_PER_CONNECTION: (u32, u32) = (10, 20);
/// Conversations whose member lists are kept in memory for fan-out; beyond it an arbitrary one
/// is dropped and read from the store again on its next event.
const MAX_CACHED_AUDIENCES: usize = 50_000;
/// Sends per second one identity may make across all its devices.
const SENDS_PER_USER: (u32, u32) = (20, 40);
/// Typing events per second per connection (clients refresh every few seconds).
const TYPING_PER_CONNECTION: (u32, u32) = (2, 5);

fn quota((per_second, burst): (u32, u32)) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// The loop of the background sweepers: waits for the next tick, then hands out the
/// [`Messaging`] to work on; `None` once the server drains or `Messaging` is gone.
async fn next_sweep(
    tick: &mut tokio::time::Interval,
    shutdown: &mut watch::Receiver<bool>,
    messaging: &std::sync::Weak<Messaging>,
) -> Option<Arc<Messaging>> {
    tokio::select! {
        _ = tick.tick() => {}
        _ = shutdown.wait_for(|draining| *draining) => return None,
    }
    messaging.upgrade()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub struct Messaging {
    pub store: chat::Store,
    pub files: chat::AttachmentStore,
    pub fanout: SharedFanout,
    pub webhooks: crate::webhooks::Webhooks,
    presence: Mutex<Presence>,
    /// Presence on the other nodes of a cluster (`cluster`), when there are any.
    remote_presence: Option<Arc<Mutex<presence::RemotePresence>>>,
    typing: Mutex<Typing>,
    sends_per_user: DefaultKeyedRateLimiter<String>,
    /// Identity → sessions of it in a room (a busy invitee is in a call).
    in_call: Mutex<std::collections::HashMap<String, usize>>,
    /// Conversation → member identities, so a send does not also query the members. Every
    /// membership change on this node goes through `tell_members`, which forgets the entry.
    audiences: Mutex<std::collections::HashMap<String, Arc<Audience>>>,
    /// A conversation's writes take turns from commit to fan-out (events arrive in seq order).
    order: order::ConversationOrder,
    /// Room visits that just ended, (room, identity) → (where the visit began, when it ended):
    /// a join within `rejoin_grace` (a reconnect) continues the visit.
    recent_visits: Mutex<std::collections::HashMap<(String, String), (i64, Instant)>>,
    rejoin_grace: Duration,
}

/// One authenticated connection's chat side.
pub struct ChatDevice {
    pub identity: String,
    pub name: String,
    /// The room whose conversation the token's `moderate` grant acts on (its own room only;
    /// everywhere else moderation follows conversation roles).
    pub moderate_room: Option<String>,
    pub id: DeviceId,
    sends: DefaultDirectRateLimiter,
    typing: DefaultDirectRateLimiter,
}

impl Messaging {
    pub fn new(
        store: chat::Store,
        files: chat::AttachmentStore,
        fanout: SharedFanout,
        webhooks: crate::webhooks::Webhooks,
    ) -> Self {
        Self {
            store,
            files,
            fanout,
            webhooks,
            presence: Mutex::default(),
            remote_presence: None,
            typing: Mutex::default(),
            sends_per_user: RateLimiter::keyed(quota(SENDS_PER_USER)),
            in_call: Mutex::default(),
            audiences: Mutex::default(),
            order: order::ConversationOrder::default(),
            recent_visits: Mutex::default(),
            rejoin_grace: Duration::ZERO,
        }
    }

    /// How long after someone's last session left a room their visit to its conversation can
    /// still be continued by coming back (see `--rejoin-grace-secs`).
    pub fn with_rejoin_grace(mut self, grace: Duration) -> Self {
        self.rejoin_grace = grace;
        self
    }

    /// Turns lapsed typing starts into stops, every second until shutdown.
    pub fn spawn_typing_sweeper(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while let Some(messaging) = next_sweep(&mut tick, &mut shutdown, &weak).await {
                let lapsed = messaging
                    .typing
                    .lock()
                    .map(|mut t| t.expire(Instant::now()))
                    .unwrap_or_default();
                for (conversation, identity) in lapsed {
                    messaging
                        .broadcast_typing(&conversation, &identity, false, None)
                        .await;
                }
                messaging.sends_per_user.retain_recent();
            }
        });
    }

    /// A connection authenticated: its device joins the fan-out and, if it is the person's
    /// first, the people who share a conversation with them see them come online.
    pub async fn connect(
        &self,
        identity: &str,
        name: &str,
        moderate_room: Option<String>,
    ) -> (ChatDevice, crate::fanout::DeviceEvents) {
        let device = self.fanout.attach(identity);
        self.change_presence(identity, |p| p.connect(identity, device.id, now_ms()))
            .await;
        self.ring_new_device(identity, device.id).await;
        (
            ChatDevice {
                identity: identity.to_owned(),
                name: name.to_owned(),
                moderate_room,
                id: device.id,
                sends: RateLimiter::direct(quota(SENDS_PER_CONNECTION)),
                typing: RateLimiter::direct(quota(TYPING_PER_CONNECTION)),
            },
            device.events,
        )
    }

    pub async fn disconnect(&self, device: &ChatDevice) {
        self.fanout.detach(&device.identity, device.id);
        if self.fanout.device_count(&device.identity) == 0 {
            // Last seen lives in the store once nobody holds a device of theirs; recorded
            // before anyone is told they went offline.
            if let Err(err) = self.store.upsert_user(&device.identity, &device.name).await {
                tracing::warn!(%err, "could not record last seen");
            }
        }
        self.change_presence(&device.identity, |p| {
            p.disconnect(&device.identity, device.id, now_ms())
        })
        .await;
    }

    /// The call room's conversation, with this person as a member (they joined the call).
    pub async fn join_room(&self, room: &str, identity: &str) -> Option<String> {
        let key = (room.to_owned(), identity.to_owned());
        let resume = self
            .recent_visits
            .lock()
            .ok()
            .and_then(|mut visits| visits.remove(&key))
            .filter(|(_, ended)| ended.elapsed() <= self.rejoin_grace)
            .map(|(began, _)| began);
        match self
            .store
            .join_room_conversation(room, identity, resume)
            .await
        {
            Ok(conversation) => {
                self.forget_audience(&conversation.id);
                Some(conversation.id)
            }
            Err(err) => {
                tracing::warn!(%err, "could not open the room's conversation");
                None
            }
        }
    }

    /// This person's last session left the room: their visit to its conversation ends (they
    /// stop receiving it and can no longer read it), and the others see them go.
    pub async fn leave_room(&self, room: &str, identity: &str) {
        match self.store.leave_room_conversation(room, identity).await {
            Ok(Some((conversation, began))) => {
                if let Ok(mut visits) = self.recent_visits.lock() {
                    let grace = self.rejoin_grace;
                    visits.retain(|_, (_, ended)| ended.elapsed() <= grace);
                    visits.insert(
                        (room.to_owned(), identity.to_owned()),
                        (began, Instant::now()),
                    );
                }
                self.tell_members(&conversation, identity, MemberChange::Left)
                    .await;
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, "could not end a room conversation visit"),
        }
    }

    /// Whether the device's `moderate` grant covers `conversation`: only the conversation of
    /// the token's own room.
    async fn moderates(&self, device: &ChatDevice, conversation: &str) -> bool {
        let Some(room) = &device.moderate_room else {
            return false;
        };
        matches!(
            self.store.conversation(conversation).await,
            Ok(c) if c.room_name.as_deref() == Some(room.as_str())
        )
    }

    /// Someone's presence over every node: `None` when no device of theirs is connected
    /// anywhere (the store has their last seen time).
    fn presence_of_connected(&self, identity: &str) -> Option<PresenceInfo> {
        let here = self.presence.lock().ok().and_then(|p| p.get(identity));
        presence::combine(here, self.remote_presence_of(identity))
    }

    fn remote_presence_of(&self, identity: &str) -> Option<PresenceInfo> {
        let remote = self.remote_presence.as_ref()?;
        remote.lock().ok().and_then(|r| r.get(identity))
    }

    /// Applies a change of this node's devices (`change` returns this node's new view of the
    /// person when it changed): the other nodes learn the view, and the person's contacts
    /// are told when their presence over every node changed. Returns this node's change.
    async fn change_presence(
        &self,
        identity: &str,
        change: impl FnOnce(&mut Presence) -> Option<PresenceInfo>,
    ) -> Option<PresenceInfo> {
        let remote = self.remote_presence_of(identity);
        let (before, local) = {
            let mut presence = self.presence.lock().ok()?;
            let before = presence.get(identity);
            (before, change(&mut presence)?)
        };
        self.fanout.presence_changed(&local);
        let status = |p: &Option<PresenceInfo>| p.as_ref().map(|p| p.status);
        let was = presence::combine(before, remote.clone());
        let here = (local.status != PresenceStatus::Offline).then(|| local.clone());
        let now = presence::combine(here, remote);
        if status(&was) != status(&now) {
            self.broadcast_presence(now.unwrap_or_else(|| local.clone()))
                .await;
        }
        Some(local)
    }

    /// Identities of a conversation's members (the audience of its events).
    async fn audience(&self, conversation: &str) -> Arc<Audience> {
        if let Some(known) = self
            .audiences
            .lock()
            .ok()
            .and_then(|a| a.get(conversation).cloned())
        {
            return known;
        }
        match self.store.members(conversation).await {
            Ok(members) => {
                let members = Arc::new(Audience::new(members));
                if let Ok(mut audiences) = self.audiences.lock() {
                    if audiences.len() >= MAX_CACHED_AUDIENCES {
                        // Bounded: any entry may go; it is re-read on its next event.
                        if let Some(old) = audiences.keys().next().cloned() {
                            audiences.remove(&old);
                        }
                    }
                    audiences.insert(conversation.to_owned(), members.clone());
                }
                members
            }
            Err(err) => {
                tracing::warn!(%err, "could not list members for fan-out");
                Arc::default()
            }
        }
    }

    /// Membership of `conversation` changed: the next event re-reads it, here and on every
    /// other node.
    fn forget_audience(&self, conversation: &str) {
        self.forget_cached_audience(conversation);
        self.fanout.membership_changed(conversation);
    }

    /// One of several nodes: presence combines this node's devices with what the others
    /// report (`remote`).
    pub fn with_remote_presence(mut self, remote: Arc<Mutex<presence::RemotePresence>>) -> Self {
        self.remote_presence = Some(remote);
        self
    }

    /// Everyone with a device on this node, as this node sees them (for a node that just
    /// joined the cluster).
    pub fn local_presence(&self) -> Vec<PresenceInfo> {
        self.presence
            .lock()
            .map(|p| p.everyone())
            .unwrap_or_default()
    }

    /// Another node went silent (its heartbeats stopped) with these people's devices on it:
    /// their contacts hear of whoever is now offline everywhere, or differently present.
    pub async fn presence_lost_elsewhere(&self, identities: Vec<String>) {
        for identity in identities {
            let info = self
                .presence_of_connected(&identity)
                .unwrap_or(PresenceInfo {
                    identity: identity.clone(),
                    status: PresenceStatus::Offline,
                    last_seen_at: Some(now_ms()),
                });
            self.broadcast_presence(info).await;
        }
    }

    /// Forgets this node's cached audience of `conversation` (another node changed it).
    pub fn forget_cached_audience(&self, conversation: &str) {
        if let Ok(mut audiences) = self.audiences.lock() {
            audiences.remove(conversation);
        }
    }

    /// Everyone who shares a conversation with `identity` (presence goes only to them).
    async fn contacts(&self, identity: &str) -> Vec<String> {
        let Ok(conversations) = self.store.conversations_of(identity).await else {
            return Vec::new();
        };
        let mut contacts = std::collections::BTreeSet::new();
        for summary in conversations {
            for member in self.audience(&summary.conversation.id).await.iter() {
                if member != identity {
                    contacts.insert(member.clone());
                }
            }
        }
        contacts.into_iter().collect()
    }

    async fn broadcast_presence(&self, presence: PresenceInfo) {
        let to = self.contacts(&presence.identity).await;
        self.fanout
            .send(&to, &ServerMessage::Presence { presence }, None);
    }

    async fn broadcast_typing(
        &self,
        conversation: &str,
        identity: &str,
        typing: bool,
        skip: Option<DeviceId>,
    ) {
        let to = self.audience(conversation).await;
        let event = ServerMessage::ChatTyping {
            conversation: conversation.to_owned(),
            identity: identity.to_owned(),
            typing,
        };
        self.fanout.send(&to, &event, skip);
    }
}

/// A conversation's members as fan-out needs them: identities, and from which seq each sees
/// messages (a room conversation's visit). Derefs to the identities.
#[derive(Debug, Default)]
pub(crate) struct Audience {
    identities: Vec<String>,
    floors: Vec<i64>,
}

impl Audience {
    fn new(members: Vec<chat::Member>) -> Self {
        let floors = members.iter().map(|m| m.visible_from_seq).collect();
        let identities = members.into_iter().map(|m| m.identity).collect();
        Self { identities, floors }
    }

    /// Who may see the message with sequence number `seq` (a change to an old message must
    /// not reach room members whose visit began after it).
    pub(crate) fn seeing(&self, seq: i64) -> std::borrow::Cow<'_, [String]> {
        if self.floors.iter().all(|&floor| seq > floor) {
            return std::borrow::Cow::Borrowed(&self.identities);
        }
        self.identities
            .iter()
            .zip(&self.floors)
            .filter(|(_, &floor)| seq > floor)
            .map(|(identity, _)| identity.clone())
            .collect()
    }
}

impl std::ops::Deref for Audience {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.identities
    }
}
