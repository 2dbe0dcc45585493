//! Reading messages back: history pages, reconnect sync, and turning message rows into
//! [`Message`]s with their attachments and reactions.

use super::{placeholders, require_member, require_visible, rows, Conn, Store};
use crate::model::{
    HistoryQuery, Message, SyncBatch, SyncCursor, SyncResult, MAX_HISTORY_LIMIT, SYNC_LIMIT,
};
use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The Any driver cannot bind arrays; IN lists are chunked to stay far below every backend's
/// bind-parameter limit.
pub(crate) const IN_CHUNK: usize = 500;
/// A client lists at most this many conversations in one sync.
pub const MAX_SYNC_CURSORS: usize = 1000;

/// Messages from rows selected with [`rows::MESSAGE_COLUMNS`], keeping the row order.
pub(crate) async fn hydrate(
    conn: &mut Conn,
    rows: Vec<AnyRow>,
) -> Result<Vec<Message>, StoreError> {
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        messages.push(Message {
            id: row.try_get("id")?,
            conversation: row.try_get("conversation_id")?,
            seq: row.try_get("seq")?,
            version: row.try_get("version")?,
            sender: row.try_get("sender")?,
            client_msg_id: row.try_get("client_msg_id")?,
            text: row.try_get("text")?,
            attachments: Vec::new(),
            reply_to: row.try_get("reply_to")?,
            created_at_ms: row.try_get("created_at")?,
            edited_at_ms: row.try_get("edited_at")?,
            deleted_at_ms: row.try_get("deleted_at")?,
            reactions: BTreeMap::new(),
            system: row.try_get("system")?,
        });
    }
    if messages.is_empty() {
        return Ok(messages);
    }
    let index: HashMap<String, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.clone(), i))
        .collect();
    let ids: Vec<&String> = messages.iter().map(|m| &m.id).collect();
    let mut attachments = Vec::new();
    let mut reactions: Vec<(String, String, String)> = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let list = placeholders(1, chunk.len());
        let sql = format!(
            "SELECT {} FROM attachments WHERE message_id IN ({list}) ORDER BY created_at, id",
            rows::ATTACHMENT_COLUMNS
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            attachments.push(rows::attachment(&row)?);
        }
        let sql = format!(
            "SELECT message_id, emoji, identity FROM reactions WHERE message_id IN ({list})
             ORDER BY emoji, identity"
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            reactions.push((
                row.try_get("message_id")?,
                row.try_get("emoji")?,
                row.try_get("identity")?,
            ));
        }
    }
    for attachment in attachments {
        let slot = attachment.message_id.as_ref().and_then(|id| index.get(id));
        if let Some(&i) = slot {
            messages[i].attachments.push(attachment);
        }
    }
    for (message_id, emoji, identity) in reactions {
        if let Some(&i) = index.get(&message_id) {
            messages[i]
                .reactions
                .entry(emoji)
                .or_default()
                .push(identity);
        }
    }
    Ok(messages)
}

pub(crate) async fn attachments_of(
    conn: &mut Conn,
    message_id: &str,
) -> Result<Vec<crate::Attachment>, StoreError> {
    sqlx::query(&format!(
        "SELECT {} FROM attachments WHERE message_id = $1 ORDER BY created_at, id",
        rows::ATTACHMENT_COLUMNS
    ))
    .bind(message_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(rows::attachment)
    .collect()
}

pub(crate) async fn message_by_id(
    conn: &mut Conn,
    id: &str,
) -> Result<Option<Message>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM messages m WHERE m.id = $1",
        rows::MESSAGE_COLUMNS
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(hydrate(conn, rows).await?.pop())
}

fn check_cursor(seq: Option<i64>) -> Result<(), StoreError> {
    match seq {
        Some(s) if s < 0 => Err(StoreError::invalid("negative sequence cursor")),
        _ => Ok(()),
    }
}

impl Store {
    /// The conversation a message belongs to, without an authorization check (the server's
    /// own use: deciding which grant applies before acting).
    pub async fn conversation_of_message(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT conversation_id FROM messages WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.read().await?)
            .await?;
        Ok(row.map(|r| r.try_get("conversation_id")).transpose()?)
    }

    /// One message by server id, for members of its conversation.
    pub async fn message(&self, actor: &str, id: &str) -> Result<Message, StoreError> {
        let mut conn = self.read().await?;
        let message = message_by_id(&mut conn, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        require_visible(&mut conn, &message, actor).await?;
        Ok(message)
    }

    /// A page of a conversation, ascending by seq; see [`HistoryQuery`]. Members only.
    pub async fn history(
        &self,
        actor: &str,
        conversation: &str,
        query: HistoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        check_cursor(query.before_seq)?;
        check_cursor(query.after_seq)?;
        let limit = match query.limit {
            0 => MAX_HISTORY_LIMIT,
            n => n.min(MAX_HISTORY_LIMIT),
        };
        let mut conn = self.read().await?;
        let member = require_member(&mut conn, conversation, actor).await?;
        page(
            &mut conn,
            conversation,
            query,
            limit,
            member.visible_from_seq,
        )
        .await
    }

    /// The server's own view of a conversation's history (the server API for apps): no member
    /// check, `NotFound` for an unknown conversation.
    pub async fn history_as_server(
        &self,
        conversation: &str,
        query: HistoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        check_cursor(query.before_seq)?;
        check_cursor(query.after_seq)?;
        let limit = match query.limit {
            0 => MAX_HISTORY_LIMIT,
            n => n.min(MAX_HISTORY_LIMIT),
        };
        self.conversation(conversation).await?;
        let mut conn = self.read().await?;
        page(&mut conn, conversation, query, limit, 0).await
    }

    /// The catch-up after a reconnect: for every listed conversation, what the client lacks
    /// (see [`SyncBatch`]); for every conversation of the actor the client did not list and that
    /// has messages, a batch from the start. Listed conversations the actor no longer belongs to
    /// come back in [`SyncResult::gone`], not as an error, so one kick does not fail the whole
    /// sync.
    pub async fn sync(
        &self,
        actor: &str,
        cursors: &[SyncCursor],
    ) -> Result<SyncResult, StoreError> {
        if cursors.len() > MAX_SYNC_CURSORS {
            return Err(StoreError::TooLarge {
                unit: "conversations",
                what: "sync conversation list",
                size: cursors.len() as u64,
                limit: MAX_SYNC_CURSORS as u64,
            });
        }
        for cursor in cursors {
            check_cursor(Some(cursor.after_seq))?;
            check_cursor(cursor.after_version)?;
        }
        let mut conn = self.read().await?;
        // Read each conversation's counters before its messages: every version up to these is
        // committed (the conversation row lock orders writers), so returning `version` as the
        // next cursor cannot skip a change that commits while we read.
        let mine = sqlx::query(
            "SELECT c.id, c.last_seq, c.last_version, mb.visible_from_seq FROM members mb
             JOIN conversations c ON c.id = mb.conversation_id
             WHERE mb.identity = $1
             ORDER BY c.id",
        )
        .bind(actor)
        .fetch_all(&mut *conn)
        .await?;
        let mut counters: HashMap<String, Counters> = HashMap::new();
        let mut order = Vec::new();
        for row in &mine {
            let id: String = row.try_get("id")?;
            counters.insert(
                id.clone(),
                Counters {
                    last_seq: row.try_get("last_seq")?,
                    last_version: row.try_get("last_version")?,
                    floor: row.try_get("visible_from_seq")?,
                },
            );
            order.push(id);
        }
        let mut result = SyncResult::default();
        let mut listed = HashSet::new();
        for cursor in cursors {
            if !listed.insert(cursor.conversation.as_str()) {
                continue;
            }
            match counters.get(&cursor.conversation) {
                Some(&counters) => {
                    result
                        .batches
                        .push(batch(&mut conn, cursor, counters).await?);
                }
                None => result.gone.push(cursor.conversation.clone()),
            }
        }
        for id in order {
            let Some(&counters) = counters.get(&id) else {
                continue;
            };
            if listed.contains(id.as_str()) || counters.last_seq <= counters.floor {
                continue;
            }
            let cursor = SyncCursor {
                conversation: id,
                after_seq: 0,
                after_version: None,
            };
            result
                .batches
                .push(batch(&mut conn, &cursor, counters).await?);
        }
        Ok(result)
    }
}

/// A conversation's counters for a sync, and what the actor may see of it (after `floor`).
#[derive(Debug, Clone, Copy)]
struct Counters {
    last_seq: i64,
    last_version: i64,
    floor: i64,
}

async fn batch(
    conn: &mut Conn,
    cursor: &SyncCursor,
    counters: Counters,
) -> Result<SyncBatch, StoreError> {
    let Counters {
        last_seq,
        last_version,
        floor,
    } = counters;
    let after_seq = cursor.after_seq.max(floor);
    let fetch = i64::from(SYNC_LIMIT) + 1;
    let mut rows = sqlx::query(&format!(
        "SELECT {} FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2
         ORDER BY m.seq ASC LIMIT $3",
        rows::MESSAGE_COLUMNS
    ))
    .bind(&cursor.conversation)
    .bind(after_seq)
    .bind(fetch)
    .fetch_all(&mut *conn)
    .await?;
    let mut more = rows.len() > SYNC_LIMIT as usize;
    rows.truncate(SYNC_LIMIT as usize);
    let messages = hydrate(conn, rows).await?;

    let mut version = last_version;
    let changed = match cursor.after_version {
        None => Vec::new(),
        Some(after_version) => {
            let mut rows = sqlx::query(&format!(
                "SELECT {} FROM messages m
                 WHERE m.conversation_id = $1 AND m.seq <= $2 AND m.version > $3
                   AND m.seq > $5
                 ORDER BY m.version ASC, m.seq ASC LIMIT $4",
                rows::MESSAGE_COLUMNS
            ))
            .bind(&cursor.conversation)
            .bind(after_seq)
            .bind(after_version)
            .bind(fetch)
            .bind(floor)
            .fetch_all(&mut *conn)
            .await?;
            let cut = rows.len() > SYNC_LIMIT as usize;
            rows.truncate(SYNC_LIMIT as usize);
            let changed = hydrate(conn, rows).await?;
            if cut {
                more = true;
                if let Some(last) = changed.last() {
                    // Resume the changes exactly where this page stopped.
                    version = version.min(last.version);
                }
            }
            changed
        }
    };
    Ok(SyncBatch {
        conversation: cursor.conversation.clone(),
        messages,
        changed,
        last_seq,
        version,
        more,
    })
}

/// One page of history, ascending by seq (the query part of [`Store::history`]), of the
/// messages after `floor` (what the reader may see).
async fn page(
    conn: &mut Conn,
    conversation: &str,
    query: HistoryQuery,
    limit: u32,
    floor: i64,
) -> Result<Vec<Message>, StoreError> {
    let before = query.before_seq.unwrap_or(i64::MAX);
    let rows = if let Some(after) = query.after_seq {
        let after = after.max(floor);
        sqlx::query(&format!(
            "SELECT {} FROM messages m
             WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq < $3
             ORDER BY m.seq ASC LIMIT $4",
            rows::MESSAGE_COLUMNS
        ))
        .bind(conversation)
        .bind(after)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?
    } else {
        let mut rows = sqlx::query(&format!(
            "SELECT {} FROM messages m
             WHERE m.conversation_id = $1 AND m.seq < $2 AND m.seq > $4
             ORDER BY m.seq DESC LIMIT $3",
            rows::MESSAGE_COLUMNS
        ))
        .bind(conversation)
        .bind(before)
        .bind(i64::from(limit))
        .bind(floor)
        .fetch_all(&mut *conn)
        .await?;
        rows.reverse();
        rows
    };
    hydrate(conn, rows).await
}
