//! Audit entries for moderation that happens outside the store's own checks: a server API
//! call muting or removing someone in a call room is recorded against the room's conversation.

use super::{audit, Store};
use crate::{AuditAction, StoreError};

impl Store {
    /// Records `actor` doing `action` to `target` in the call room `room` (its conversation is
    /// created if the room never had one), for the same audit log as chat moderation.
    pub async fn audit_room_action(
        &self,
        room: &str,
        actor: &str,
        action: AuditAction,
        target: &str,
    ) -> Result<(), StoreError> {
        let conversation = self.room_conversation(room).await?;
        let mut conn = self.pool.acquire().await?;
        audit(
            &mut conn,
            &conversation.id,
            actor,
            action,
            Some(target),
            None,
        )
        .await
    }
}
