//! Parley's chat persistence and domain model: users, conversations (direct, group, one per
//! call room), members with roles, messages with per-conversation sequence numbers, reactions,
//! receipts, attachments, moderation with an audit log, and full-text search; and calls: call
//! invitations with their ringing state machine, call records, and system messages through
//! which calls show up in chat (see [`Invitation`], [`CallRecord`] and
//! [`Store::post_system_message`]).
//!
//! One [`Store`] over SQLite (the embedded default: WAL, `synchronous = FULL`) or PostgreSQL,
//! with migrations for both and one query text for both (sqlx `Any`). This crate knows nothing
//! of WebRTC, HTTP or JSON (system message bodies are opaque text here); `signaling` maps
//! [`StoreError`]s to protocol errors ([`StoreError::is_retriable`] tells an outage from a
//! refusal).
//!
//! Guarantees callers build on:
//! - **Ordering**: a message's `seq` is taken inside its sending transaction by locking the
//!   conversation row, so seqs are gapless (1, 2, ...) and follow commit order: a client that
//!   holds seq N holds everything before it.
//! - **Idempotency**: `send` with a (conversation, sender, client_msg_id) already stored returns
//!   the original with `created = false`, also under concurrent resends.
//! - **Changes reach sync**: edits, deletions and reactions bump the conversation's change
//!   counter and stamp it on the message (`Message::version`); [`Store::sync`] with
//!   `after_version` returns the messages the client already had that changed since.
//! - **Tombstones**: deleted messages (and erased users' messages) keep id, seq and times.
//! - **System messages** are messages: same seq and version rules, in history, sync and search;
//!   [`Message::system`] carries their JSON body; idempotent by a key per conversation.
//! - **Authorization**: operations taking an `actor` check it (`NotMember`, `Forbidden`,
//!   `Muted`, `Banned`); the few without one (`conversation`, `members`, `receipts`,
//!   `membership`) are for the server's own fan-out.

mod calls;
mod error;
mod files;
mod model;
mod store;
mod upload;

pub use calls::*;
pub use error::StoreError;
pub use files::{
    check_content, check_upload, normalize_content_type, AttachmentStore, ALLOWED_CONTENT_TYPES,
    DEFAULT_MAX_ATTACHMENT_BYTES,
};
pub use model::*;
pub use store::Store;
pub use upload::{ContentSniffer, Upload};
