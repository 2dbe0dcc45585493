//! Column lists and row decoders shared by the query modules. A value the schema's CHECK
//! constraints should have excluded becomes a decode error, never a panic.

use crate::model::{
    Attachment, AuditAction, AuditEntry, Conversation, ConversationKind, Member, Role, User,
};
use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;

pub(crate) const USER_COLUMNS: &str =
    "identity, display_name, avatar_url, created_at, last_seen_at";
pub(crate) const CONVERSATION_COLUMNS: &str = "c.id, c.kind, c.title, c.room_name, c.created_by, \
     c.created_at, c.last_seq, c.last_version, c.last_message_at";
pub(crate) const MEMBER_COLUMNS: &str =
    "conversation_id, identity, role, joined_at, muted_at, visible_from_seq";
pub(crate) const ATTACHMENT_COLUMNS: &str = "id, conversation_id, message_id, uploader, filename, \
     content_type, size, storage_key, created_at";
pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.seq, m.version, m.sender, \
     m.client_msg_id, m.text, m.reply_to, m.created_at, m.edited_at, m.deleted_at, m.system";
pub(crate) const AUDIT_COLUMNS: &str =
    "id, conversation_id, actor, action, target_identity, target_message, at";

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("unexpected value {value:?} in column {column}").into(),
    ))
}

pub(crate) fn user(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        identity: row.try_get("identity")?,
        display_name: row.try_get("display_name")?,
        avatar_url: row.try_get("avatar_url")?,
        created_at_ms: row.try_get("created_at")?,
        last_seen_at_ms: row.try_get("last_seen_at")?,
    })
}

pub(crate) fn conversation(row: &AnyRow) -> Result<Conversation, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        kind: ConversationKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        title: row.try_get("title")?,
        room_name: row.try_get("room_name")?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at")?,
        last_seq: row.try_get("last_seq")?,
        last_version: row.try_get("last_version")?,
        last_message_at_ms: row.try_get("last_message_at")?,
    })
}

pub(crate) fn role(row: &AnyRow) -> Result<Role, StoreError> {
    let role: String = row.try_get("role")?;
    Role::parse(&role).ok_or_else(|| corrupt("role", &role))
}

pub(crate) fn member(row: &AnyRow) -> Result<Member, StoreError> {
    Ok(Member {
        conversation: row.try_get("conversation_id")?,
        identity: row.try_get("identity")?,
        role: role(row)?,
        joined_at_ms: row.try_get("joined_at")?,
        muted: row.try_get::<Option<i64>, _>("muted_at")?.is_some(),
        visible_from_seq: row.try_get("visible_from_seq")?,
    })
}

pub(crate) fn attachment(row: &AnyRow) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        id: row.try_get("id")?,
        conversation: row.try_get("conversation_id")?,
        message_id: row.try_get("message_id")?,
        uploader: row.try_get("uploader")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        storage_key: row.try_get("storage_key")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

pub(crate) fn audit(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let action: String = row.try_get("action")?;
    Ok(AuditEntry {
        id: row.try_get("id")?,
        conversation: row.try_get("conversation_id")?,
        actor: row.try_get("actor")?,
        action: AuditAction::parse(&action).ok_or_else(|| corrupt("action", &action))?,
        target_identity: row.try_get("target_identity")?,
        target_message: row.try_get("target_message")?,
        at_ms: row.try_get("at")?,
    })
}
