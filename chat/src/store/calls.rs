//! Call records: one per room per stretch of time someone was in it, tied to a conversation.
//! Signaling starts one at a room's first join and ends it at the last leave; the partial
//! unique index `calls_open_per_room` guarantees at most one open call per room, so concurrent
//! first joins agree on one record.

use super::invitations::media;
use super::reading::IN_CHUNK;
use super::{
    check_identity, check_text, conversation_exists, is_unique_violation, new_id, now_ms,
    placeholders, require_member, Conn, Store,
};
use crate::calls::{CallMedia, CallRecord, MAX_CALL_HISTORY_LIMIT};
use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

const CALL_COLUMNS: &str = "k.id, k.conversation_id, k.room, k.invitation_id, k.media, \
     k.started_by, k.started_at, k.ended_at, k.duration";
const MAX_ROOM_BYTES: usize = 256;

fn call_row(row: &AnyRow) -> Result<CallRecord, StoreError> {
    Ok(CallRecord {
        id: row.try_get("id")?,
        conversation: row.try_get("conversation_id")?,
        room: row.try_get("room")?,
        invitation: row.try_get("invitation_id")?,
        media: media(row)?,
        started_by: row.try_get("started_by")?,
        started_at_ms: row.try_get("started_at")?,
        ended_at_ms: row.try_get("ended_at")?,
        duration_ms: row.try_get("duration")?,
        participants: Vec::new(),
    })
}

/// Calls from rows selected with [`CALL_COLUMNS`], with their participants, keeping row order.
async fn hydrate(conn: &mut Conn, rows: Vec<AnyRow>) -> Result<Vec<CallRecord>, StoreError> {
    let mut calls = rows.iter().map(call_row).collect::<Result<Vec<_>, _>>()?;
    let index: HashMap<String, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, call)| (call.id.clone(), i))
        .collect();
    let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT call_id, identity FROM call_participants WHERE call_id IN ({})
             ORDER BY joined_at, identity",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("call_id")?;
            if let Some(&i) = index.get(&id) {
                calls[i].participants.push(row.try_get("identity")?);
            }
        }
    }
    Ok(calls)
}

async fn call_where(
    conn: &mut Conn,
    filter: &str,
    bind: &str,
) -> Result<Option<CallRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS} FROM calls k WHERE {filter}"
    ))
    .bind(bind)
    .fetch_all(&mut *conn)
    .await?;
    Ok(hydrate(conn, rows).await?.pop())
}

async fn open_call_in(conn: &mut Conn, room: &str) -> Result<Option<CallRecord>, StoreError> {
    call_where(conn, "k.room = $1 AND k.ended_at IS NULL", room).await
}

/// Records a participant once (the first join's time is kept).
async fn add_participant(conn: &mut Conn, call: &str, identity: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_participants (call_id, identity, joined_at) VALUES ($1, $2, $3)
         ON CONFLICT (call_id, identity) DO NOTHING",
    )
    .bind(call)
    .bind(identity)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

fn clamp_limit(limit: u32) -> i64 {
    i64::from(match limit {
        0 => MAX_CALL_HISTORY_LIMIT,
        n => n.min(MAX_CALL_HISTORY_LIMIT),
    })
}

fn check_room(room: &str) -> Result<(), StoreError> {
    if room.is_empty() {
        return Err(StoreError::invalid("empty room name"));
    }
    check_text("room name", room, MAX_ROOM_BYTES)
}

impl Store {
    /// Opens the call of `room` in `conversation` (which must exist: `NotFound`), started now
    /// by `started_by`, who is recorded as its first participant. `invitation`, when given,
    /// must be an invitation of that conversation (`Invalid`). Idempotent per room: while the
    /// room has an open call, that call is returned unchanged (whatever the other arguments).
    pub async fn start_call(
        &self,
        conversation: &str,
        room: &str,
        invitation: Option<&str>,
        media: CallMedia,
        started_by: &str,
    ) -> Result<CallRecord, StoreError> {
        check_room(room)?;
        check_identity(started_by)?;
        match self
            .try_start_call(conversation, room, invitation, media, started_by)
            .await
        {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                // A concurrent first join opened the room's call and committed.
                let mut conn = self.read().await?;
                open_call_in(&mut conn, room)
                    .await?
                    .ok_or(StoreError::Database(e))
            }
            other => other,
        }
    }

    async fn try_start_call(
        &self,
        conversation: &str,
        room: &str,
        invitation: Option<&str>,
        media: CallMedia,
        started_by: &str,
    ) -> Result<CallRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(open) = open_call_in(&mut tx, room).await? {
            tx.rollback().await?;
            return Ok(open);
        }
        if !conversation_exists(&mut tx, conversation).await? {
            return Err(StoreError::NotFound);
        }
        if let Some(invitation) = invitation {
            let found = sqlx::query(
                "SELECT id FROM call_invitations WHERE id = $1 AND conversation_id = $2",
            )
            .bind(invitation)
            .bind(conversation)
            .fetch_optional(&mut *tx)
            .await?;
            if found.is_none() {
                return Err(StoreError::invalid(
                    "the invitation is not one of this conversation",
                ));
            }
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO calls (id, conversation_id, room, invitation_id, media, started_by,
                                started_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(conversation)
        .bind(room)
        .bind(invitation)
        .bind(media.as_str())
        .bind(started_by)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        add_participant(&mut tx, &id, started_by).await?;
        let call = call_where(&mut tx, "k.id = $1", &id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(call)
    }

    /// Records that `identity` joined the open call of `room` (`NotFound` if none). Set
    /// semantics: rejoining changes nothing.
    pub async fn call_joined(&self, room: &str, identity: &str) -> Result<(), StoreError> {
        check_identity(identity)?;
        let mut tx = self.begin_write().await?;
        let call: String = sqlx::query("SELECT id FROM calls WHERE room = $1 AND ended_at IS NULL")
            .bind(room)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_get("id")?;
        add_participant(&mut tx, &call, identity).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the open call of `room` (`NotFound` if none) at `ended_at_ms`; the duration is
    /// `ended_at_ms - started_at_ms`, 0 if the clock went backwards.
    pub async fn end_call(&self, room: &str, ended_at_ms: i64) -> Result<CallRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: String = sqlx::query(
            "UPDATE calls
             SET ended_at = $2,
                 duration = CASE WHEN $2 > started_at THEN $2 - started_at ELSE 0 END
             WHERE room = $1 AND ended_at IS NULL
             RETURNING id",
        )
        .bind(room)
        .bind(ended_at_ms)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_get("id")?;
        let call = call_where(&mut tx, "k.id = $1", &id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(call)
    }

    /// The call of `room` that has not ended, if any.
    pub async fn open_call(&self, room: &str) -> Result<Option<CallRecord>, StoreError> {
        let mut conn = self.read().await?;
        open_call_in(&mut conn, room).await
    }

    /// Calls newest first, at most `limit` (0 or more than [`MAX_CALL_HISTORY_LIMIT`] means
    /// that maximum). With a conversation: its calls, members only (`NotMember`, `NotFound`,
    /// `Banned`). Without: the calls of every conversation the actor is a member of now.
    pub async fn call_history(
        &self,
        actor: &str,
        conversation: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let mut conn = self.read().await?;
        if let Some(conversation) = conversation {
            require_member(&mut conn, conversation, actor).await?;
        }
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls k
             JOIN members mb ON mb.conversation_id = k.conversation_id AND mb.identity = $1
             WHERE ($2 = '' OR k.conversation_id = $2)
             ORDER BY k.started_at DESC, k.id DESC LIMIT $3"
        ))
        .bind(actor)
        .bind(conversation.unwrap_or(""))
        .bind(clamp_limit(limit))
        .fetch_all(&mut *conn)
        .await?;
        hydrate(&mut conn, rows).await
    }

    /// The server's own view (admin REST), no actor check: every call, or one conversation's,
    /// newest first, `limit` as in [`Store::call_history`].
    pub async fn calls(
        &self,
        conversation: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls k
             WHERE ($1 = '' OR k.conversation_id = $1)
             ORDER BY k.started_at DESC, k.id DESC LIMIT $2"
        ))
        .bind(conversation.unwrap_or(""))
        .bind(clamp_limit(limit))
        .fetch_all(&mut *conn)
        .await?;
        hydrate(&mut conn, rows).await
    }
}
