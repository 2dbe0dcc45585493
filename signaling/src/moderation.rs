//! Moderation of call rooms (the server API's mute and removal): recorded in the audit log of
//! the room's conversation, next to chat moderation.

use crate::state::AppState;

pub async fn audit_room(
    state: &AppState,
    room: &str,
    actor: &str,
    action: chat::AuditAction,
    target: &str,
) {
    tracing::info!(room = %room, actor = %actor, action = action.as_str(), target = %target, "moderation");
    if let Err(err) = state
        .store
        .audit_room_action(room, actor, action, target)
        .await
    {
        tracing::warn!(%err, "could not write the audit log");
    }
}
