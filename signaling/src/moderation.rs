//! Moderation of call rooms (a moderator's `moderate_participant`, the server API's mute and
//! removal): acted on in the media plane, recorded in the audit log of the room's conversation,
//! next to chat moderation.

use crate::protocol::{ErrorCode, RoomModeration};
use crate::state::AppState;
use sfu::input::{ForceMute, Remove, RoomPeople};
use sfu::{MediaKind, ParticipantSnapshot};

/// A moderator acts on participant `target` (a sid) of `room`.
pub async fn moderate(
    state: &AppState,
    room: &str,
    actor: &str,
    target: &str,
    action: RoomModeration,
) -> Result<(), (ErrorCode, String)> {
    let room_people = RoomPeople {
        room: room.to_owned(),
    };
    let session = state
        .sfu
        .request(room_people)
        .await
        .map_err(crate::session::sfu_error)?
        .into_iter()
        .find(|p| p.meta.sid.to_string() == target)
        .ok_or((
            ErrorCode::UnknownParticipant,
            "no such participant in your room".into(),
        ))?;
    let sessions = vec![session];
    let (audio, video) = (MediaKind::Audio, MediaKind::Video);
    match action {
        RoomModeration::Remove => remove(state, room, actor, sessions).await,
        RoomModeration::MuteAudio => mute(state, room, actor, sessions, &[audio], true).await,
        RoomModeration::MuteVideo => mute(state, room, actor, sessions, &[video], true).await,
        RoomModeration::MuteAll => mute(state, room, actor, sessions, &[audio, video], true).await,
        RoomModeration::Unmute => mute(state, room, actor, sessions, &[audio, video], false).await,
    }
    Ok(())
}

/// Mutes (nothing of them is forwarded, the room is told) or unmutes the tracks of `kinds`
/// of these sessions of one person.
pub async fn mute(
    state: &AppState,
    room: &str,
    actor: &str,
    sessions: Vec<ParticipantSnapshot>,
    kinds: &[MediaKind],
    muted: bool,
) {
    let Some(identity) = sessions.first().map(|s| s.meta.identity.clone()) else {
        return;
    };
    for track in sessions
        .into_iter()
        .flat_map(|s| s.tracks)
        .filter(|t| kinds.contains(&t.kind))
    {
        // A track that ended meanwhile is not an error.
        let mute = ForceMute {
            track: track.sid,
            muted,
        };
        if let Err(err) = state.sfu.request(mute).await {
            tracing::debug!(%err, "a moderator's mute was not applied");
        }
    }
    let action = if muted {
        chat::AuditAction::Mute
    } else {
        chat::AuditAction::Unmute
    };
    audit_room(state, room, actor, action, &identity).await;
}

/// Removes these sessions of one person from the room (`goodbye: removed`).
pub async fn remove(state: &AppState, room: &str, actor: &str, sessions: Vec<ParticipantSnapshot>) {
    let Some(identity) = sessions.first().map(|s| s.meta.identity.clone()) else {
        return;
    };
    // Removal is revocation: the same identity cannot walk back in at any door.
    crate::lifecycle::ban(state, room, &identity);
    for session in sessions {
        let remove = Remove {
            sid: session.meta.sid,
            reason: "removed".to_owned(),
        };
        if let Err(err) = state.sfu.request(remove).await {
            tracing::warn!(%err, "a moderator's removal was not applied");
        }
    }
    audit_room(state, room, actor, chat::AuditAction::Kick, &identity).await;
}

async fn audit_room(
    state: &AppState,
    room: &str,
    actor: &str,
    action: chat::AuditAction,
    target: &str,
) {
    // Who did it to whom is in the audit log, not in the process log.
    tracing::info!(room = %room, action = action.as_str(), "moderation");
    if let Err(err) = state
        .store
        .audit_room_action(room, actor, action, target)
        .await
    {
        tracing::warn!(%err, "could not write the audit log");
    }
}
