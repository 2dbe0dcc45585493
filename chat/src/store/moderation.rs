//! Mute, kick, ban, unban, and the audit log that records them.
//!
//! Every action is allowed to the conversation's owners and moderators (moderators not on
//! owners) and to anyone whose token carries the moderate grant (`moderate_grant`); nobody
//! moderates themselves.

use super::{audit, check_identity, may_moderate, member_of, now_ms, rows, Conn, Store};
use crate::model::{AuditEntry, Member, Role};
use crate::{AuditAction, StoreError};

/// Checks the conversation exists and the actor may act on `target`; returns the target's
/// membership.
async fn authorize(
    conn: &mut Conn,
    conversation: &str,
    actor: &str,
    target: &str,
    grant: bool,
) -> Result<Option<Member>, StoreError> {
    check_identity(target)?;
    if actor == target {
        return Err(StoreError::invalid("you cannot moderate yourself"));
    }
    if !super::conversation_exists(conn, conversation).await? {
        return Err(StoreError::NotFound);
    }
    let actor_role = member_of(conn, conversation, actor).await?.map(|m| m.role);
    if actor_role.is_none() && !grant {
        return Err(StoreError::NotMember);
    }
    let target_member = member_of(conn, conversation, target).await?;
    if !may_moderate(actor_role, grant, target_member.as_ref().map(|m| m.role)) {
        return Err(StoreError::Forbidden);
    }
    Ok(target_member)
}

async fn remove(conn: &mut Conn, conversation: &str, identity: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND identity = $2")
        .bind(conversation)
        .bind(identity)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Mutes (`muted = true`: cannot send, edit or react) or unmutes a member.
    pub async fn mute(
        &self,
        actor: &str,
        conversation: &str,
        target: &str,
        muted: bool,
        moderate_grant: bool,
    ) -> Result<Member, StoreError> {
        let mut tx = self.begin_write().await?;
        authorize(&mut tx, conversation, actor, target, moderate_grant)
            .await?
            .ok_or(StoreError::NotFound)?;
        sqlx::query(
            "UPDATE members SET muted_at = $3 WHERE conversation_id = $1 AND identity = $2",
        )
        .bind(conversation)
        .bind(target)
        .bind(muted.then(now_ms))
        .execute(&mut *tx)
        .await?;
        let action = if muted {
            AuditAction::Mute
        } else {
            AuditAction::Unmute
        };
        audit(&mut tx, conversation, actor, action, Some(target), None).await?;
        let member = member_of(&mut tx, conversation, target)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }

    /// Removes a member; they may be added again (or rejoin a room).
    pub async fn kick(
        &self,
        actor: &str,
        conversation: &str,
        target: &str,
        moderate_grant: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        authorize(&mut tx, conversation, actor, target, moderate_grant)
            .await?
            .ok_or(StoreError::NotFound)?;
        remove(&mut tx, conversation, target).await?;
        audit(
            &mut tx,
            conversation,
            actor,
            AuditAction::Kick,
            Some(target),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `target` (if a member) and refuses them from now on: adding them, their joining
    /// the room conversation, or `create_direct` answer `Banned`. Works on non-members too.
    pub async fn ban(
        &self,
        actor: &str,
        conversation: &str,
        target: &str,
        moderate_grant: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        authorize(&mut tx, conversation, actor, target, moderate_grant).await?;
        remove(&mut tx, conversation, target).await?;
        sqlx::query(
            "INSERT INTO bans (conversation_id, identity, banned_by, banned_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(conversation)
        .bind(target)
        .bind(actor)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            conversation,
            actor,
            AuditAction::Ban,
            Some(target),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lifts a ban (does not re-add the member). Unbanning someone not banned is a no-op, still
    /// audited.
    pub async fn unban(
        &self,
        actor: &str,
        conversation: &str,
        target: &str,
        moderate_grant: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        authorize(&mut tx, conversation, actor, target, moderate_grant).await?;
        sqlx::query("DELETE FROM bans WHERE conversation_id = $1 AND identity = $2")
            .bind(conversation)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            conversation,
            actor,
            AuditAction::Unban,
            Some(target),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The conversation's moderation record, oldest first; for its owners and moderators and
    /// holders of the moderate grant.
    pub async fn audit_log(
        &self,
        actor: &str,
        conversation: &str,
        moderate_grant: bool,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut conn = self.read().await?;
        if !moderate_grant {
            let role = super::require_member(&mut conn, conversation, actor)
                .await?
                .role;
            if role < Role::Moderator {
                return Err(StoreError::Forbidden);
            }
        } else if !super::conversation_exists(&mut conn, conversation).await? {
            return Err(StoreError::NotFound);
        }
        sqlx::query(&format!(
            "SELECT {} FROM audit_log WHERE conversation_id = $1 ORDER BY id",
            rows::AUDIT_COLUMNS
        ))
        .bind(conversation)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(rows::audit)
        .collect()
    }
}
