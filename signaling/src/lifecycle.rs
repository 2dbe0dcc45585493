//! What happens around rooms as people come and go: an empty room closes after its grace
//! period (unless someone returns), which ends it for webhooks.

use crate::rooms::{AdmitError, Admitted};
use crate::state::AppState;
use crate::webhooks::WebhookEvent;

/// Admission to a room, the same at every door (WebSocket `join`, WHIP, WHEP): the ban list
/// (removal is revocation), `--auto-create-rooms`, guests only in rooms nobody created through
/// the server API, the participant cap (viewers count). Opens the room if it was not
/// (`room_started`).
pub async fn admit(
    state: &AppState,
    room: &str,
    claims: &crate::auth::Claims,
) -> Result<Admitted, AdmitError> {
    let present = state.sfu.room_people(room).await.len();
    let admitted = state.rooms.admit(
        room,
        (&claims.sub, claims.guest),
        present,
        state.config.auto_create_rooms,
        crate::messaging::now_ms(),
    )?;
    if admitted.started {
        state.webhooks.send(WebhookEvent::RoomStarted {
            room: room.to_owned(),
        });
    }
    Ok(admitted)
}

/// `identity` was removed from `room`: they may not come back for `--removal-ban-secs`.
pub fn ban(state: &AppState, room: &str, identity: &str) {
    let now = crate::messaging::now_ms();
    let period = i64::try_from(state.config.removal_ban.as_millis()).unwrap_or(i64::MAX);
    state
        .rooms
        .ban(room, identity, now.saturating_add(period), now);
}

/// `identity` left `room`: their visit to the room's conversation ends with their last session
/// there; if the room is now empty, close it once the grace period passes.
pub async fn participant_left(state: &AppState, room: &str, identity: &str) {
    let people = state.sfu.room_people(room).await;
    if !people.iter().any(|p| p.meta.identity == identity) {
        state.messaging.leave_room(room, identity).await;
    }
    // Viewers alone do not keep a room open.
    let remaining = people.iter().filter(|p| !p.meta.hidden).count();
    if remaining == 0 {
        // The call (if the room had one) ends with its last participant.
        state.messaging.call_room_empty(room).await;
    }
    let Some((grace, epoch)) = state.rooms.left(room, remaining) else {
        return;
    };
    let (state, room) = (state.clone(), room.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        if state.rooms.close_if_idle(&room, epoch).is_some() {
            tracing::info!(room = %room, "room closed");
            state.webhooks.send(WebhookEvent::RoomFinished { room });
        }
    });
}
