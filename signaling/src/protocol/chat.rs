//! The chat half of protocol v1: the payloads of the `chat_*` and `presence*` messages. The
//! variants themselves are in [`super::ClientMessage`] / [`super::ServerMessage`], so one
//! `type` tag space covers calls and chat on the same WebSocket.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A message as clients see it. Deleted messages keep `id`, `seq` and times; `text` and
/// `attachments` are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub conversation: String,
    /// Per conversation, gapless from 1, in commit order.
    pub seq: i64,
    /// The conversation's change counter when this message last changed; sync cursors use it.
    pub version: i64,
    /// `null` once the sender's data was erased.
    pub sender: Option<String>,
    pub client_msg_id: Option<String>,
    pub text: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    pub reply_to: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// Emoji → identities that reacted with it.
    pub reactions: BTreeMap<String, Vec<String>>,
    /// Set on messages the server writes (calls): e.g. `{"type": "call", "event": "ended",
    /// "duration_ms": 720000, "participants": [...]}`. Show them as notices, not as speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// Download path (members only, with the bearer token).
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
    Room,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    pub id: String,
    pub kind: ConversationKind,
    pub title: Option<String>,
    /// The call room, for `room` conversations.
    pub room: Option<String>,
    pub last_seq: i64,
    pub last_version: i64,
    /// This member's role, mute state and receipts (absent where the reader is not a member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub muted: bool,
    #[serde(default)]
    pub delivered_up_to: i64,
    #[serde(default)]
    pub read_up_to: i64,
    /// In `chat_conversations`: every member with their receipts, so a client that just
    /// loaded can name the other person and show what they have read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub identity: String,
    /// Their display name, when the server knows them.
    #[serde(default)]
    pub name: Option<String>,
    pub delivered_up_to: i64,
    pub read_up_to: i64,
}

/// What a reconnecting client holds of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncCursor {
    pub conversation: String,
    /// Highest `seq` the client holds (0: none).
    pub after_seq: i64,
    /// The `version` of the previous sync batch; with it, `changed` lists edits, deletions and
    /// reactions of messages the client already has.
    #[serde(default)]
    pub after_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncBatch {
    pub conversation: String,
    /// Everything after `after_seq`, ascending.
    pub messages: Vec<ChatMessage>,
    /// Messages the client already had that changed since `after_version`.
    pub changed: Vec<ChatMessage>,
    pub last_seq: i64,
    /// The next `after_version`.
    pub version: i64,
    /// Cut at the limit (500 per list): sync again from the last message.
    pub more: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceInfo {
    pub identity: String,
    pub status: PresenceStatus,
    /// Unix milliseconds of the last activity: now-ish while online, the last disconnect after.
    pub last_seen_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewConversationKind {
    Direct,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    Mute,
    Unmute,
    Kick,
    Ban,
    Unban,
}

/// How a conversation's membership changed (`chat_member` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberChange {
    Added,
    Left,
    Removed,
    Muted,
    Unmuted,
    Kicked,
    Banned,
    Unbanned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMedia {
    Audio,
    Video,
}

/// One invitee of a call and where they are: `ringing`, `accepted`, `declined`, `busy`,
/// `answered_elsewhere`, `missed` or `cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteeInfo {
    pub identity: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationInfo {
    pub id: String,
    pub conversation: String,
    pub caller: String,
    pub media: CallMedia,
    /// The call's room.
    pub room: String,
    /// `ringing`, `accepted`, `declined`, `cancelled` or `missed`.
    pub state: String,
    pub invitees: Vec<InviteeInfo>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(default)]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Display names of the people above, by identity (for "Ana is calling…").
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
}
