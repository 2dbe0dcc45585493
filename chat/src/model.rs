//! The chat domain as the store hands it out. Plain data: no database handles, no I/O.

use std::collections::BTreeMap;

/// Largest message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Largest client message id, in bytes.
pub const MAX_CLIENT_MSG_ID_BYTES: usize = 128;
/// Largest reaction emoji, in bytes (a flag or a skin-toned family fits).
pub const MAX_EMOJI_BYTES: usize = 32;
/// Most attachments one message may carry.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;
/// Largest page [`crate::Store::history`] returns.
pub const MAX_HISTORY_LIMIT: u32 = 200;
/// Most messages (and, separately, most changed messages) [`crate::Store::sync`] returns per
/// conversation; `SyncBatch::more` says there is more.
pub const SYNC_LIMIT: u32 = 500;
/// Largest page [`crate::Store::search`] returns.
pub const MAX_SEARCH_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub identity: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConversationKind {
    /// Exactly two people; one conversation per unordered pair.
    Direct,
    Group,
    /// The side panel of a call room; one per room name.
    Room,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
            Self::Room => "room",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "direct" => Some(Self::Direct),
            "group" => Some(Self::Group),
            "room" => Some(Self::Room),
            _ => None,
        }
    }
}

/// Ordered by power: `Owner > Moderator > Member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member,
    Moderator,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Moderator => "moderator",
            Self::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "moderator" => Some(Self::Moderator),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    pub fn can_moderate(self) -> bool {
        self >= Self::Moderator
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub kind: ConversationKind,
    pub title: Option<String>,
    /// Set for [`ConversationKind::Room`].
    pub room_name: Option<String>,
    pub created_by: Option<String>,
    pub created_at_ms: i64,
    /// Sequence number of the newest message (0 when empty).
    pub last_seq: i64,
    /// Change counter: bumped by every send, edit, delete and reaction.
    pub last_version: i64,
    pub last_message_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub conversation: String,
    pub identity: String,
    pub role: Role,
    pub joined_at_ms: i64,
    pub muted: bool,
    /// The member sees messages after this seq only (a room conversation's visit starts at
    /// the member's join; 0 elsewhere).
    pub visible_from_seq: i64,
}

impl Member {
    /// Whether this member may see the message with sequence number `seq`.
    pub fn sees(&self, seq: i64) -> bool {
        seq > self.visible_from_seq
    }
}

/// One line of a person's conversation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub role: Role,
    pub muted: bool,
    pub delivered_up_to: i64,
    pub read_up_to: i64,
}

impl ConversationSummary {
    pub fn unread(&self) -> i64 {
        (self.conversation.last_seq - self.read_up_to).max(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub conversation: String,
    /// The message carrying it; `None` until sent.
    pub message_id: Option<String>,
    pub uploader: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// Where [`crate::AttachmentStore`] keeps the bytes. Server-internal: clients download by
    /// attachment id, through a membership check.
    pub storage_key: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Server id (uuid).
    pub id: String,
    pub conversation: String,
    /// Per-conversation, gapless, starting at 1, in commit order.
    pub seq: i64,
    /// The conversation's change counter when this message last changed (sent, edited,
    /// deleted, reacted to). Sync uses it to deliver edits of messages a client already has.
    pub version: i64,
    /// `None` once the sender's data was erased with [`crate::Store::delete_user`].
    pub sender: Option<String>,
    pub client_msg_id: Option<String>,
    /// `None` once deleted.
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<String>,
    pub created_at_ms: i64,
    pub edited_at_ms: Option<i64>,
    pub deleted_at_ms: Option<i64>,
    /// Emoji → identities that reacted with it (sorted).
    pub reactions: BTreeMap<String, Vec<String>>,
    /// Set for system messages (the server speaking, see [`crate::Store::post_system_message`]):
    /// their machine-readable JSON body. `sender` is then the person the message is about.
    /// `None` for people's messages and once deleted.
    pub system: Option<String>,
}

impl Message {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at_ms.is_some()
    }

    /// Whether the server posted it (see [`Message::system`]); a deleted system message keeps
    /// no body and reads as an ordinary tombstone.
    pub fn is_system(&self) -> bool {
        self.system.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessage {
    pub conversation: String,
    pub sender: String,
    /// Chosen by the client; resending the same one returns the original message.
    pub client_msg_id: String,
    pub text: String,
    /// Ids from [`crate::Store::create_attachment`], uploaded by the sender to this conversation
    /// and not yet sent.
    pub attachments: Vec<String>,
    pub reply_to: Option<String>,
}

/// A history page. With `after_seq`, the oldest `limit` messages after it (paging forward);
/// otherwise the newest `limit` before `before_seq` (or before the end). Always ascending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub before_seq: Option<i64>,
    pub after_seq: Option<i64>,
    /// Clamped to `1..=MAX_HISTORY_LIMIT`; 0 means the maximum.
    pub limit: u32,
}

/// What a reconnecting client already has of one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCursor {
    pub conversation: String,
    /// Highest sequence number the client holds.
    pub after_seq: i64,
    /// The `version` of the client's previous [`SyncBatch`] for this conversation, or, before
    /// its first sync, the conversation's `last_version` from a listing. This is the only rule:
    /// never a version taken from live events (a device that saw a later change but missed an
    /// earlier one before it dropped would skip the earlier one for good). `None`: the client
    /// does not track changes and gets no `changed` list.
    pub after_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    pub conversation: String,
    /// Messages with `seq > after_seq`, ascending by seq, at most [`SYNC_LIMIT`], in their
    /// current state (edited text, tombstones, reactions).
    pub messages: Vec<Message>,
    /// Messages with `seq <= after_seq` that changed after `after_version`, ascending by version,
    /// at most [`SYNC_LIMIT`]. Empty when `after_version` was `None`.
    pub changed: Vec<Message>,
    pub last_seq: i64,
    /// The client's next `after_version`.
    pub version: i64,
    /// Either list was cut at the limit: sync again with `after_seq` = the last message's seq
    /// and `after_version` = `version` (or page forward with history).
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResult {
    /// One per listed conversation the actor is still a member of, plus one per unlisted
    /// conversation of the actor that has messages.
    pub batches: Vec<SyncBatch>,
    /// Listed conversations the actor is no longer a member of (kicked, banned, left, or the
    /// conversation does not exist).
    pub gone: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub conversation: String,
    pub identity: String,
    pub delivered_up_to: i64,
    pub read_up_to: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Mute,
    Unmute,
    Kick,
    Ban,
    Unban,
    /// A message deleted by someone other than its sender.
    DeleteMessage,
    /// A member removed by someone else through `remove_member`.
    RemoveMember,
    SetRole,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::Kick => "kick",
            Self::Ban => "ban",
            Self::Unban => "unban",
            Self::DeleteMessage => "delete_message",
            Self::RemoveMember => "remove_member",
            Self::SetRole => "set_role",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Mute,
            Self::Unmute,
            Self::Kick,
            Self::Ban,
            Self::Unban,
            Self::DeleteMessage,
            Self::RemoveMember,
            Self::SetRole,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub conversation: String,
    pub actor: String,
    pub action: AuditAction,
    pub target_identity: Option<String>,
    pub target_message: Option<String>,
    pub at_ms: i64,
}

/// What [`crate::Store::delete`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The tombstone.
    pub message: Message,
    /// Attachment files the caller should now remove from [`crate::AttachmentStore`].
    pub storage_keys: Vec<String>,
}

/// What [`crate::Store::delete_user`] erased.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Erasure {
    pub user_existed: bool,
    /// Messages turned into anonymous tombstones.
    pub messages: u64,
    /// Attachment files the caller should now remove from [`crate::AttachmentStore`].
    pub storage_keys: Vec<String>,
    /// Call invitations that stopped ringing because of the erasure (they placed it: now
    /// `Cancelled`; it rang only for them: now `Declined`). The server should stop ringing
    /// them as it would after a cancel or decline.
    pub invitations_ended: Vec<String>,
}
