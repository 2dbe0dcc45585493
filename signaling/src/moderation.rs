//! Moderation of call rooms (a moderator's `moderate_participant`, the server API's mute and
//! removal): acted on in the media plane, recorded in the audit log of the room's conversation,
//! next to chat moderation.

use crate::protocol::{ErrorCode, RoomModeration};
use crate::state::AppState;

/// A moderator acts on participant `target` (a sid) of `room`.
pub async fn moderate(
    state: &AppState,
    room: &str,
    actor: &str,
    target: &str,
    action: RoomModeration,
) -> Result<(), (ErrorCode, String)> {
    let snapshot = state
        .sfu
        .rooms()
        .await
        .into_iter()
        .find(|(name, _)| name == room)
        .and_then(|(_, people)| {
            people
                .into_iter()
                .find(|p| p.meta.sid.to_string() == target)
        })
        .ok_or((
            ErrorCode::UnknownParticipant,
            "no such participant in your room".into(),
        ))?;
    let identity = snapshot.meta.identity.clone();
    let (kinds, muted, audit) = match action {
        RoomModeration::Remove => {
            state.sfu.remove(snapshot.meta.sid, "removed").await;
            audit_room(state, room, actor, chat::AuditAction::Kick, &identity).await;
            return Ok(());
        }
        RoomModeration::MuteAudio => (vec![sfu::MediaKind::Audio], true, chat::AuditAction::Mute),
        RoomModeration::MuteVideo => (vec![sfu::MediaKind::Video], true, chat::AuditAction::Mute),
        RoomModeration::MuteAll => (
            vec![sfu::MediaKind::Audio, sfu::MediaKind::Video],
            true,
            chat::AuditAction::Mute,
        ),
        RoomModeration::Unmute => (
            vec![sfu::MediaKind::Audio, sfu::MediaKind::Video],
            false,
            chat::AuditAction::Unmute,
        ),
    };
    for track in snapshot
        .tracks
        .into_iter()
        .filter(|t| kinds.contains(&t.kind))
    {
        // A track that ended meanwhile is not an error.
        let _ = state.sfu.force_mute(track.sid, muted).await;
    }
    audit_room(state, room, actor, audit, &identity).await;
    Ok(())
}

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
