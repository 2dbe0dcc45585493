//! Writing messages: send (idempotent, sequenced), edit, delete, react.
//!
//! Every mutation first bumps the conversation row ([`super::bump`]), which both assigns the
//! message's `version` and serialises all writers of that conversation. Sync delivers edits,
//! deletions and reactions through that version (see [`crate::SyncCursor`]).

use super::reading::{attachments_of, message_by_id};
use super::{
    audit, bump, check_identity, check_text, is_unique_violation, may_moderate, member_of, now_ms,
    placeholders, require_member, require_visible, Conn, Store,
};
use crate::model::{
    Deleted, Message, SendMessage, MAX_ATTACHMENTS_PER_MESSAGE, MAX_CLIENT_MSG_ID_BYTES,
    MAX_EMOJI_BYTES, MAX_TEXT_BYTES,
};
use crate::{AuditAction, StoreError};
use sqlx::Row;

fn validate_send(send: &SendMessage) -> Result<(), StoreError> {
    check_identity(&send.sender)?;
    check_text("message text", &send.text, MAX_TEXT_BYTES)?;
    if send.client_msg_id.is_empty() {
        return Err(StoreError::invalid("empty client message id"));
    }
    check_text(
        "client message id",
        &send.client_msg_id,
        MAX_CLIENT_MSG_ID_BYTES,
    )?;
    if send.attachments.len() > MAX_ATTACHMENTS_PER_MESSAGE {
        return Err(StoreError::TooLarge {
            unit: "attachments",
            what: "attachment list",
            size: send.attachments.len() as u64,
            limit: MAX_ATTACHMENTS_PER_MESSAGE as u64,
        });
    }
    if send.text.trim().is_empty() && send.attachments.is_empty() {
        return Err(StoreError::invalid("a message needs text or an attachment"));
    }
    Ok(())
}

fn validate_emoji(emoji: &str) -> Result<(), StoreError> {
    if emoji.is_empty() || emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::invalid(
            "a reaction is one emoji, without spaces",
        ));
    }
    check_text("emoji", emoji, MAX_EMOJI_BYTES)
}

async fn by_client_id(conn: &mut Conn, send: &SendMessage) -> Result<Option<Message>, StoreError> {
    // Ids first: the common case (no duplicate) then costs one indexed lookup, not a hydrate.
    let found = sqlx::query(
        "SELECT id FROM messages
         WHERE conversation_id = $1 AND sender = $2 AND client_msg_id = $3",
    )
    .bind(&send.conversation)
    .bind(&send.sender)
    .bind(&send.client_msg_id)
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(row) => message_by_id(conn, &row.try_get::<String, _>("id")?).await,
        None => Ok(None),
    }
}

/// The attachments must be the sender's own uploads to this conversation, not yet sent. One
/// conditional UPDATE claims them, so a concurrent sweep of unsent uploads either finds them
/// claimed or has already removed them (and then this send is refused), never half of each.
async fn claim_attachments(
    conn: &mut Conn,
    send: &SendMessage,
    message_id: &str,
) -> Result<(), StoreError> {
    let mut ids: Vec<&str> = send.attachments.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE attachments SET message_id = $1
         WHERE conversation_id = $2 AND uploader = $3 AND message_id IS NULL AND id IN ({})",
        placeholders(4, ids.len())
    );
    let mut query = sqlx::query(&sql)
        .bind(message_id)
        .bind(&send.conversation)
        .bind(&send.sender);
    for id in &ids {
        query = query.bind(*id);
    }
    if query.execute(&mut *conn).await?.rows_affected() != ids.len() as u64 {
        // The caller rolls back (or back to its savepoint): nothing stays claimed.
        return Err(StoreError::invalid(
            "attachments must be your own unsent uploads to this conversation",
        ));
    }
    Ok(())
}

/// The message and its conversation's row lock, in that order of discovery: the conversation
/// is bumped (locked) before the message is re-read, so the state checked is the state written.
async fn lock_message(conn: &mut Conn, message_id: &str) -> Result<(Message, i64), StoreError> {
    let conversation: String = sqlx::query("SELECT conversation_id FROM messages WHERE id = $1")
        .bind(message_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_get("conversation_id")?;
    let (_, version) = bump(conn, &conversation, None).await?;
    let message = message_by_id(conn, message_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((message, version))
}

impl Store {
    /// Sends a message: in one transaction, takes the conversation's next sequence number and
    /// inserts. Returns `created = false` with the original message when this sender already
    /// sent this `client_msg_id` to this conversation (whatever the new text says).
    pub async fn send(&self, send: SendMessage) -> Result<(Message, bool), StoreError> {
        validate_send(&send)?;
        match self.try_send(&send).await {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                // Lost a race with an identical resend; the winner has committed.
                let mut conn = self.read().await?;
                let original = by_client_id(&mut conn, &send).await?;
                original.map(|m| (m, false)).ok_or(StoreError::Database(e))
            }
            other => other,
        }
    }

    async fn try_send(&self, send: &SendMessage) -> Result<(Message, bool), StoreError> {
        if self.is_sqlite() {
            return self.send_grouped(send.clone()).await;
        }
        let mut tx = self.begin_write().await?;
        match send_in(&mut tx, send, now_ms()).await? {
            (message, true) => {
                tx.commit().await?;
                Ok((message, true))
            }
            duplicate => {
                tx.rollback().await?;
                Ok(duplicate)
            }
        }
    }

    /// Group commit for SQLite, where each commit is an fsync and writers take turns: a sender
    /// queues its message, then whoever gets the writer's turn sends everything queued in one
    /// transaction (a savepoint per message, so one refusal does not undo the others) and
    /// answers each. Under load the batches grow and the fsyncs per message shrink; alone, a
    /// message is its own batch.
    async fn send_grouped(&self, send: SendMessage) -> Result<(Message, bool), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if let Ok(mut queue) = self.send_queue.lock() {
            queue.push((send, reply));
        }
        {
            let _turn = self.write_turn.clone().lock_owned().await;
            let batch = self
                .send_queue
                .lock()
                .map(|mut queue| std::mem::take(&mut *queue))
                .unwrap_or_default();
            if !batch.is_empty() {
                self.commit_batch(batch).await;
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "the batch carrying this message was abandoned; resend it",
            )))
        })
    }

    async fn commit_batch(&self, batch: Vec<QueuedSend>) {
        // The caller holds the writer's turn already.
        let mut tx = match self.pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => super::WriteTx::unturned(tx),
            Err(err) => return fail_batch(batch, err),
        };
        // Once the transaction's state is unknown, nothing of this batch is stored.
        let mut broken = None;
        let mut results = Vec::with_capacity(batch.len());
        for (send, reply) in batch {
            let result = match broken {
                Some(_) => None,
                None => match savepointed_send(&mut tx, &send).await {
                    Ok(result) => Some(result),
                    Err(err) => {
                        broken = Some(err);
                        None
                    }
                },
            };
            results.push((result, reply));
        }
        if broken.is_none() {
            broken = tx.commit().await.err();
        }
        match broken {
            Some(err) => fail_replies(results.into_iter().map(|(_, reply)| reply).collect(), err),
            None => {
                for (result, reply) in results {
                    if let Some(result) = result {
                        let _ = reply.send(result);
                    }
                }
            }
        }
    }

    /// Replaces the text of the actor's own message. Not for deleted messages (`Conflict`),
    /// nor while muted. An edit cannot empty a message that has no attachments.
    pub async fn edit(
        &self,
        actor: &str,
        message_id: &str,
        text: &str,
    ) -> Result<Message, StoreError> {
        check_text("message text", text, MAX_TEXT_BYTES)?;
        let mut tx = self.begin_write().await?;
        let (message, version) = lock_message(&mut tx, message_id).await?;
        let member = require_visible(&mut tx, &message, actor).await?;
        // A system message names the person it is about as sender, but it is the server's.
        if message.sender.as_deref() != Some(actor) || message.is_system() {
            return Err(StoreError::Forbidden);
        }
        if message.is_deleted() {
            return Err(StoreError::Conflict("the message was deleted"));
        }
        if member.muted {
            return Err(StoreError::Muted);
        }
        if text.trim().is_empty() && message.attachments.is_empty() {
            return Err(StoreError::invalid("a message needs text or an attachment"));
        }
        sqlx::query("UPDATE messages SET text = $2, edited_at = $3, version = $4 WHERE id = $1")
            .bind(message_id)
            .bind(text)
            .bind(now_ms())
            .bind(version)
            .execute(&mut *tx)
            .await?;
        let message = message_by_id(&mut tx, message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(message)
    }

    /// Deletes a message: its text, attachments and reactions go, a tombstone (id, seq, sender,
    /// times) stays so sequence numbers stay gapless. Allowed for the sender, for owners and
    /// moderators of the conversation (moderators not on owners' messages), and for anyone when
    /// `moderate` (the token's moderate grant) is set; deleting someone else's message is
    /// audited. Deleting a deleted message returns the tombstone unchanged.
    pub async fn delete(
        &self,
        actor: &str,
        message_id: &str,
        moderate: bool,
    ) -> Result<Deleted, StoreError> {
        let mut tx = self.begin_write().await?;
        let (message, version) = lock_message(&mut tx, message_id).await?;
        let conversation = message.conversation.clone();
        // A system message is nobody's own: only moderators remove it (audited).
        let own = message.sender.as_deref() == Some(actor) && !message.is_system();
        if !own {
            let actor_member = member_of(&mut tx, &conversation, actor).await?;
            if actor_member.is_none() && !moderate {
                return Err(StoreError::NotMember);
            }
            // A message from before a room member's visit does not exist for them.
            if actor_member.as_ref().is_some_and(|m| !m.sees(message.seq)) && !moderate {
                return Err(StoreError::NotFound);
            }
            let actor_role = actor_member.map(|m| m.role);
            let sender_role = match message.sender.as_deref() {
                Some(sender) => member_of(&mut tx, &conversation, sender)
                    .await?
                    .map(|m| m.role),
                None => None,
            };
            if !may_moderate(actor_role, moderate, sender_role) {
                return Err(StoreError::Forbidden);
            }
        }
        if message.is_deleted() {
            tx.rollback().await?;
            return Ok(Deleted {
                message,
                storage_keys: Vec::new(),
            });
        }
        let storage_keys = message
            .attachments
            .iter()
            .map(|a| a.storage_key.clone())
            .collect();
        sqlx::query("DELETE FROM attachments WHERE message_id = $1")
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM reactions WHERE message_id = $1")
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE messages SET text = NULL, system = NULL, deleted_at = $2, version = $3
             WHERE id = $1",
        )
        .bind(message_id)
        .bind(now_ms())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if !own {
            let action = AuditAction::DeleteMessage;
            let target = message.sender.as_deref();
            audit(
                &mut tx,
                &conversation,
                actor,
                action,
                target,
                Some(message_id),
            )
            .await?;
        }
        let message = message_by_id(&mut tx, message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Deleted {
            message,
            storage_keys,
        })
    }

    /// Adds (`on`) or removes the actor's reaction. Members only, not while muted, not on
    /// deleted messages. Idempotent: reacting twice leaves one reaction.
    pub async fn react(
        &self,
        actor: &str,
        message_id: &str,
        emoji: &str,
        on: bool,
    ) -> Result<Message, StoreError> {
        validate_emoji(emoji)?;
        let mut tx = self.begin_write().await?;
        let (message, version) = lock_message(&mut tx, message_id).await?;
        let member = require_visible(&mut tx, &message, actor).await?;
        if member.muted {
            return Err(StoreError::Muted);
        }
        if message.is_deleted() {
            return Err(StoreError::Conflict("the message was deleted"));
        }
        let changed = if on {
            sqlx::query(
                "INSERT INTO reactions (message_id, emoji, identity, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(message_id)
            .bind(emoji)
            .bind(actor)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND identity = $3",
            )
            .bind(message_id)
            .bind(emoji)
            .bind(actor)
            .execute(&mut *tx)
            .await?
        };
        if changed.rows_affected() == 0 {
            // Nothing changed: give the version back rather than make syncing clients refetch.
            tx.rollback().await?;
            return Ok(message);
        }
        sqlx::query("UPDATE messages SET version = $2 WHERE id = $1")
            .bind(message_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        let message = message_by_id(&mut tx, message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(message)
    }
}

pub(crate) type QueuedSend = (
    SendMessage,
    tokio::sync::oneshot::Sender<Result<(Message, bool), StoreError>>,
);

/// Sends (or finds the original of) one message on an open write transaction; commits nothing.
async fn send_in(
    tx: &mut Conn,
    send: &SendMessage,
    now: i64,
) -> Result<(Message, bool), StoreError> {
    // Lock first: once we hold the conversation row, any earlier send with this client id
    // has committed and is visible below, and our seq is the next in commit order.
    let (seq, version) = bump(tx, &send.conversation, Some(now)).await?;
    let member = require_member(tx, &send.conversation, &send.sender).await?;
    if let Some(original) = by_client_id(tx, send).await? {
        return Ok((original, false));
    }
    if member.muted {
        return Err(StoreError::Muted);
    }
    if let Some(reply_to) = &send.reply_to {
        let parent = sqlx::query(
            "SELECT id FROM messages WHERE id = $1 AND conversation_id = $2 AND seq > $3",
        )
        .bind(reply_to)
        .bind(&send.conversation)
        .bind(member.visible_from_seq)
        .fetch_optional(&mut *tx)
        .await?;
        if parent.is_none() {
            return Err(StoreError::invalid(
                "reply_to is not a message of this conversation",
            ));
        }
    }
    let id = super::new_id();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, version, sender, client_msg_id, text,
                               reply_to, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&send.conversation)
    .bind(seq)
    .bind(version)
    .bind(&send.sender)
    .bind(&send.client_msg_id)
    .bind(&send.text)
    .bind(&send.reply_to)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    claim_attachments(tx, send, &id).await?;
    // Built here rather than re-read: the conversation lock is held until commit, and every
    // round trip now delays the next sender.
    let attachments = if send.attachments.is_empty() {
        Vec::new()
    } else {
        attachments_of(tx, &id).await?
    };
    let message = Message {
        id,
        conversation: send.conversation.clone(),
        seq,
        version,
        sender: Some(send.sender.clone()),
        client_msg_id: Some(send.client_msg_id.clone()),
        text: Some(send.text.clone()),
        attachments,
        reply_to: send.reply_to.clone(),
        created_at_ms: now,
        edited_at_ms: None,
        deleted_at_ms: None,
        reactions: Default::default(),
        system: None,
    };
    Ok((message, true))
}

/// One send of a batch under its own savepoint. Only a stored message keeps it: a refusal or a
/// duplicate must not leave its sequence number taken. `Err`: the transaction itself failed.
async fn savepointed_send(
    tx: &mut Conn,
    send: &SendMessage,
) -> Result<Result<(Message, bool), StoreError>, sqlx::Error> {
    sqlx::query("SAVEPOINT send").execute(&mut *tx).await?;
    let result = send_in(tx, send, now_ms()).await;
    if !matches!(result, Ok((_, true))) {
        sqlx::query("ROLLBACK TO send").execute(&mut *tx).await?;
    }
    sqlx::query("RELEASE send").execute(&mut *tx).await?;
    Ok(result)
}

/// The batch could not be committed: nothing of it is stored; every sender may resend (same
/// client ids, so never twice). The first gets the database's own error.
fn fail_batch(batch: Vec<QueuedSend>, err: sqlx::Error) {
    fail_replies(batch.into_iter().map(|(_, reply)| reply).collect(), err)
}

fn fail_replies(
    replies: Vec<tokio::sync::oneshot::Sender<Result<(Message, bool), StoreError>>>,
    err: sqlx::Error,
) {
    let why = err.to_string();
    let mut first = Some(err);
    for reply in replies {
        let error = match first.take() {
            Some(err) => StoreError::Database(err),
            None => StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                format!("the batch carrying this message failed ({why}); resend it"),
            )),
        };
        let _ = reply.send(Err(error));
    }
}
