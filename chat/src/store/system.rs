//! System messages: the server speaking in a conversation ("Missed call", "Call, 12 min").
//! They are ordinary rows of `messages` — next seq, next version, in history, sync and search
//! like any message — with the machine-readable body in `system` and an idempotency key in
//! `system_key` (unique per conversation). `client_msg_id` stays NULL, so they can never
//! collide with what a person's device sent.

use super::reading::message_by_id;
use super::{bump, check_identity, check_text, is_unique_violation, new_id, now_ms, Conn, Store};
use crate::calls::MAX_SYSTEM_KEY_BYTES;
use crate::model::{Message, MAX_TEXT_BYTES};
use crate::StoreError;
use sqlx::Row;

async fn by_key(
    conn: &mut Conn,
    conversation: &str,
    key: &str,
) -> Result<Option<Message>, StoreError> {
    let found =
        sqlx::query("SELECT id FROM messages WHERE conversation_id = $1 AND system_key = $2")
            .bind(conversation)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    match found {
        Some(row) => message_by_id(conn, &row.try_get::<String, _>("id")?).await,
        None => Ok(None),
    }
}

impl Store {
    /// Posts a system message to `conversation` (which must exist: `NotFound`) with the next
    /// seq. `about` is the person it concerns (e.g. the caller) and becomes its `sender`, so
    /// clients can show whose call it was; they need not be a member (any more), and mutes do
    /// not apply: it is the server speaking. `text` is the human summary, `system_json` the
    /// machine-readable body (opaque here; stored and returned as given in
    /// [`Message::system`]). Idempotent by `key` within the conversation (e.g.
    /// `"call-ended:<call id>"`): a key already posted returns that message with
    /// `created = false`, whatever the other arguments say.
    ///
    /// Such a message cannot be edited; deleting it takes a moderator (it is nobody's own).
    pub async fn post_system_message(
        &self,
        conversation: &str,
        about: &str,
        key: &str,
        text: &str,
        system_json: &str,
    ) -> Result<(Message, bool), StoreError> {
        check_identity(about)?;
        if key.is_empty() {
            return Err(StoreError::invalid("empty system message key"));
        }
        check_text("system message key", key, MAX_SYSTEM_KEY_BYTES)?;
        check_text("message text", text, MAX_TEXT_BYTES)?;
        if system_json.trim().is_empty() {
            return Err(StoreError::invalid("empty system message body"));
        }
        check_text("system message body", system_json, MAX_TEXT_BYTES)?;
        match self
            .try_post_system(conversation, about, key, text, system_json)
            .await
        {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                // Lost a race with the same key; the winner has committed.
                let mut conn = self.read().await?;
                let original = by_key(&mut conn, conversation, key).await?;
                original.map(|m| (m, false)).ok_or(StoreError::Database(e))
            }
            other => other,
        }
    }

    async fn try_post_system(
        &self,
        conversation: &str,
        about: &str,
        key: &str,
        text: &str,
        system_json: &str,
    ) -> Result<(Message, bool), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // Lock first, as `send` does: an earlier post with this key is then visible below, and
        // the seq follows commit order.
        let (seq, version) = bump(&mut tx, conversation, Some(now)).await?;
        if let Some(original) = by_key(&mut tx, conversation, key).await? {
            tx.rollback().await?;
            return Ok((original, false));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, version, sender, text, created_at,
                                   system, system_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(conversation)
        .bind(seq)
        .bind(version)
        .bind(about)
        .bind(text)
        .bind(now)
        .bind(system_json)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        let message = Message {
            id,
            conversation: conversation.to_string(),
            seq,
            version,
            sender: Some(about.to_string()),
            client_msg_id: None,
            text: Some(text.to_string()),
            attachments: Vec::new(),
            reply_to: None,
            created_at_ms: now,
            edited_at_ms: None,
            deleted_at_ms: None,
            reactions: Default::default(),
            system: Some(system_json.to_string()),
        };
        tx.commit().await?;
        Ok((message, true))
    }
}
