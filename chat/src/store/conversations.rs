//! Conversations and their members: direct (one per pair), group, and one per call room.

use super::{
    audit, check_identity, check_text, is_banned, may_moderate, member_of, new_id, now_ms,
    require_member, rows, Conn, Store,
};
use crate::model::{Conversation, ConversationKind, ConversationSummary, Member, Role};
use crate::{AuditAction, StoreError};
use std::collections::BTreeSet;

const MAX_TITLE_BYTES: usize = 256;
const MAX_ROOM_NAME_BYTES: usize = 256;
/// Most members `create_group` accepts at once.
pub const MAX_GROUP_MEMBERS: usize = 1000;

async fn conversation_by(
    conn: &mut Conn,
    filter: &str,
    binds: &[&str],
) -> Result<Option<Conversation>, StoreError> {
    let sql = format!(
        "SELECT {} FROM conversations c WHERE {filter}",
        rows::CONVERSATION_COLUMNS
    );
    let mut query = sqlx::query(&sql);
    for bind in binds {
        query = query.bind(*bind);
    }
    let row = query.fetch_optional(conn).await?;
    row.as_ref().map(rows::conversation).transpose()
}

pub(crate) async fn conversation_in(conn: &mut Conn, id: &str) -> Result<Conversation, StoreError> {
    conversation_by(conn, "c.id = $1", &[id])
        .await?
        .ok_or(StoreError::NotFound)
}

/// Adds a member unless already one; a banned identity is refused.
async fn join(
    conn: &mut Conn,
    conversation: &str,
    identity: &str,
    role: Role,
) -> Result<(), StoreError> {
    if is_banned(conn, conversation, identity).await? {
        return Err(StoreError::Banned);
    }
    sqlx::query(
        "INSERT INTO members (conversation_id, identity, role, joined_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (conversation_id, identity) DO NOTHING",
    )
    .bind(conversation)
    .bind(identity)
    .bind(role.as_str())
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_conversation(
    conn: &mut Conn,
    kind: ConversationKind,
    title: Option<&str>,
    pair: Option<(&str, &str)>,
    room_name: Option<&str>,
    created_by: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversations
             (id, kind, title, direct_a, direct_b, room_name, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(kind.as_str())
    .bind(title)
    .bind(pair.map(|p| p.0))
    .bind(pair.map(|p| p.1))
    .bind(room_name)
    .bind(created_by)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The one direct conversation of two people, created on first use; either side gets the
    /// same one. Re-adds a side that had left; `Banned` if `a` was banned from it.
    pub async fn create_direct(&self, a: &str, b: &str) -> Result<Conversation, StoreError> {
        check_identity(a)?;
        check_identity(b)?;
        if a == b {
            return Err(StoreError::invalid(
                "a direct conversation needs two different people",
            ));
        }
        let pair = if a < b { (a, b) } else { (b, a) };
        let mut tx = self.begin_write().await?;
        let filter = "c.direct_a = $1 AND c.direct_b = $2";
        let existing = conversation_by(&mut tx, filter, &[pair.0, pair.1]).await?;
        let conversation = match existing {
            Some(c) => c,
            None => {
                // ON CONFLICT DO NOTHING: a concurrent creator may win; then read its row.
                let kind = ConversationKind::Direct;
                insert_conversation(&mut tx, kind, None, Some(pair), None, Some(a)).await?;
                conversation_by(&mut tx, filter, &[pair.0, pair.1])
                    .await?
                    .ok_or(StoreError::NotFound)?
            }
        };
        join(&mut tx, &conversation.id, a, Role::Member).await?;
        match join(&mut tx, &conversation.id, b, Role::Member).await {
            Ok(()) | Err(StoreError::Banned) => {}
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        Ok(conversation)
    }

    /// A group owned by `owner`, with `members` as plain members.
    pub async fn create_group(
        &self,
        owner: &str,
        title: &str,
        members: &[String],
    ) -> Result<Conversation, StoreError> {
        check_identity(owner)?;
        check_text("title", title, MAX_TITLE_BYTES)?;
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(StoreError::TooLarge {
                unit: "members",
                what: "member list",
                size: members.len() as u64,
                limit: MAX_GROUP_MEMBERS as u64,
            });
        }
        let members: BTreeSet<&str> = members
            .iter()
            .map(String::as_str)
            .filter(|m| *m != owner)
            .collect();
        for member in &members {
            check_identity(member)?;
        }
        let id = new_id();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO conversations (id, kind, title, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(ConversationKind::Group.as_str())
        .bind((!title.is_empty()).then_some(title))
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        join(&mut tx, &id, owner, Role::Owner).await?;
        for member in members {
            join(&mut tx, &id, member, Role::Member).await?;
        }
        let conversation = conversation_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(conversation)
    }

    /// The conversation of a call room, created on first use. It has no owner: moderation in
    /// it comes from the token's moderate grant.
    pub async fn room_conversation(&self, room_name: &str) -> Result<Conversation, StoreError> {
        if room_name.is_empty() {
            return Err(StoreError::invalid("empty room name"));
        }
        check_text("room name", room_name, MAX_ROOM_NAME_BYTES)?;
        let mut conn = self.read().await?;
        if let Some(c) = conversation_by(&mut conn, "c.room_name = $1", &[room_name]).await? {
            return Ok(c);
        }
        drop(conn);
        let mut tx = self.begin_write().await?;
        let kind = ConversationKind::Room;
        insert_conversation(&mut tx, kind, None, None, Some(room_name), None).await?;
        let conversation = conversation_by(&mut tx, "c.room_name = $1", &[room_name])
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(conversation)
    }

    /// Makes `identity` a member of the room's conversation for this visit (call this when
    /// they join the call): they see what is said from now on, nothing from before. A second
    /// session of someone already in the room keeps the visit's start. `Banned` if they were
    /// banned from it.
    ///
    /// `resume_from`: the start of a visit that ended moments ago (a reconnect), which this
    /// join continues instead of starting a new one.
    pub async fn join_room_conversation(
        &self,
        room_name: &str,
        identity: &str,
        resume_from: Option<i64>,
    ) -> Result<Conversation, StoreError> {
        check_identity(identity)?;
        let conversation = self.room_conversation(room_name).await?;
        let mut tx = self.begin_write().await?;
        if is_banned(&mut tx, &conversation.id, identity).await? {
            return Err(StoreError::Banned);
        }
        sqlx::query(
            "INSERT INTO members (conversation_id, identity, role, joined_at, visible_from_seq, node)
             SELECT $1, $2, $3, $4, COALESCE($5, last_seq), $6 FROM conversations WHERE id = $1
             ON CONFLICT (conversation_id, identity) DO NOTHING",
        )
        .bind(&conversation.id)
        .bind(identity)
        .bind(Role::Member.as_str())
        .bind(now_ms())
        .bind(resume_from)
        .bind(self.node.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(conversation)
    }

    /// Ends `identity`'s visit to the room's conversation (call this when their last session
    /// leaves the room): they stop receiving it and can no longer read it. Returns the
    /// conversation's id and where the visit started, if they were a member.
    pub async fn leave_room_conversation(
        &self,
        room_name: &str,
        identity: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(conversation) = conversation_by(&mut tx, "c.room_name = $1", &[room_name]).await?
        else {
            return Ok(None);
        };
        let Some(member) = member_of(&mut tx, &conversation.id, identity).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND identity = $2")
            .bind(&conversation.id)
            .bind(identity)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((conversation.id, member.visible_from_seq)))
    }

    /// Ends every visit to every room conversation: at start, nobody is in a room yet, so
    /// memberships left by a crash are over. A node of several (`with_node`) ends only the
    /// visits it started: the others' rooms are live. Returns how many ended.
    pub async fn end_room_visits(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let rooms = "DELETE FROM members
             WHERE conversation_id IN (SELECT id FROM conversations WHERE kind = 'room')";
        let mine = format!("{rooms} AND node = $1");
        let query = match self.node.as_deref() {
            None => sqlx::query(rooms),
            Some(node) => sqlx::query(&mine).bind(node),
        };
        let ended = query.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(ended)
    }

    /// Any conversation by id, without an authorization check (for the server's own use).
    pub async fn conversation(&self, id: &str) -> Result<Conversation, StoreError> {
        conversation_in(&mut *self.read().await?, id).await
    }

    /// The actor's conversations, most recently active first.
    pub async fn conversations_of(
        &self,
        identity: &str,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {}, mb.role, mb.muted_at, mb.delivered_up_to, mb.read_up_to
             FROM members mb JOIN conversations c ON c.id = mb.conversation_id
             WHERE mb.identity = $1
             ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id",
            rows::CONVERSATION_COLUMNS
        ))
        .bind(identity)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                use sqlx::Row;
                Ok(ConversationSummary {
                    conversation: rows::conversation(row)?,
                    role: rows::role(row)?,
                    muted: row.try_get::<Option<i64>, _>("muted_at")?.is_some(),
                    delivered_up_to: row.try_get("delivered_up_to")?,
                    read_up_to: row.try_get("read_up_to")?,
                })
            })
            .collect()
    }

    /// Everyone in a conversation, without an authorization check: the server fans events out
    /// with it. Check membership before showing the list to a client.
    pub async fn members(&self, conversation: &str) -> Result<Vec<Member>, StoreError> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {} FROM members WHERE conversation_id = $1 ORDER BY joined_at, identity",
            rows::MEMBER_COLUMNS
        ))
        .bind(conversation)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() && !super::conversation_exists(&mut conn, conversation).await? {
            return Err(StoreError::NotFound);
        }
        rows.iter().map(rows::member).collect()
    }

    /// One membership, if any.
    pub async fn membership(
        &self,
        conversation: &str,
        identity: &str,
    ) -> Result<Option<Member>, StoreError> {
        member_of(&mut *self.read().await?, conversation, identity).await
    }

    /// Adds `identity` with `role`, or changes the role of an existing member. Owners and
    /// moderators add members; only owners grant or change moderator and owner roles. Direct
    /// conversations have fixed members (`Forbidden`); banned identities are refused (`Banned`).
    pub async fn add_member(
        &self,
        actor: &str,
        conversation: &str,
        identity: &str,
        role: Role,
    ) -> Result<Member, StoreError> {
        check_identity(identity)?;
        let mut tx = self.begin_write().await?;
        let conv = conversation_in(&mut tx, conversation).await?;
        let actor_role = require_member(&mut tx, conversation, actor).await?.role;
        if conv.kind == ConversationKind::Direct || !actor_role.can_moderate() {
            return Err(StoreError::Forbidden);
        }
        match member_of(&mut tx, conversation, identity).await? {
            Some(existing) if existing.role == role => return Ok(existing),
            Some(existing) => {
                if actor_role != Role::Owner {
                    return Err(StoreError::Forbidden);
                }
                sqlx::query(
                    "UPDATE members SET role = $3 WHERE conversation_id = $1 AND identity = $2",
                )
                .bind(conversation)
                .bind(&existing.identity)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
                let action = AuditAction::SetRole;
                audit(&mut tx, conversation, actor, action, Some(identity), None).await?;
            }
            None => {
                if role != Role::Member && actor_role != Role::Owner {
                    return Err(StoreError::Forbidden);
                }
                join(&mut tx, conversation, identity, role).await?;
            }
        }
        let member = member_of(&mut tx, conversation, identity)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }

    /// Removes a member: anyone may leave; owners and moderators remove others (moderators not
    /// owners). Removing someone else is written to the audit log.
    pub async fn remove_member(
        &self,
        actor: &str,
        conversation: &str,
        identity: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let target = member_of(&mut tx, conversation, identity).await?;
        if actor != identity {
            let actor_role = require_member(&mut tx, conversation, actor).await?.role;
            if !may_moderate(Some(actor_role), false, target.as_ref().map(|t| t.role)) {
                return Err(StoreError::Forbidden);
            }
        }
        if target.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND identity = $2")
            .bind(conversation)
            .bind(identity)
            .execute(&mut *tx)
            .await?;
        if actor != identity {
            let action = AuditAction::RemoveMember;
            audit(&mut tx, conversation, actor, action, Some(identity), None).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
