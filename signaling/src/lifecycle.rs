//! What happens around rooms as people come and go: an empty room closes after its grace
//! period (unless someone returns), which ends it for webhooks.

use crate::rooms::{AdmitError, Admitted};
use crate::state::AppState;
use crate::webhooks::WebhookEvent;
use sfu::input::RoomPeople;

/// Admission to a room, the same at every door (WebSocket `join`, WHIP, WHEP): the ban list
/// (removal is revocation), `--auto-create-rooms`, guests only in rooms nobody created through
/// the server API; with several nodes, the room must be this node's (claimed here: a WHIP or
/// WHEP request at a node not holding it is refused, a WebSocket join is relayed before it
/// gets here). Opens the room if it was not (`room_started`). The participant cap (viewers
/// count) is the media plane's, checked in the same step as the join: pass
/// `Admitted::config.max_participants` to `sfu::input::Join` or `JoinViewer`, and call
/// [`join_refused`] if the media plane refuses.
pub async fn admit(
    state: &AppState,
    room: &str,
    claims: &crate::auth::Claims,
) -> Result<Admitted, AdmitError> {
    if let Some(relay) = &state.relay {
        match relay.placement.claim_here(room).await {
            Ok(true) => {}
            Ok(false) => return Err(AdmitError::Elsewhere),
            Err(err) => {
                tracing::warn!(%err, "could not claim a room");
                return Err(AdmitError::Unplaced);
            }
        }
    }
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) && state.rooms.get(room).is_none()
    {
        // Placed here before the others heard this node is stopping: placed anew on retry.
        if let Some(relay) = &state.relay {
            relay.placement.release(room).await;
        }
        return Err(AdmitError::Draining);
    }
    let admitted = state.rooms.admit(
        room,
        (&claims.sub, claims.guest),
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

/// An admitted join the media plane refused (the room is full, the server at capacity):
/// admission counted it as someone coming, so if nobody is in, the room closes after its grace
/// period as if they had left.
pub async fn join_refused(state: &AppState, room: &str) {
    let room_people = RoomPeople {
        room: room.to_owned(),
    };
    match state.sfu.request(room_people).await {
        Ok(people) => close_when_empty(state, room, &people),
        // Stopping: rooms end with the server.
        Err(err) => tracing::debug!(%err, "a refused join's room is left as it is"),
    }
}

/// `identity` left `room`: their visit to the room's conversation ends with their last session
/// there; if the room is now empty, close it once the grace period passes.
pub async fn participant_left(state: &AppState, room: &str, identity: &str) {
    let room_people = RoomPeople {
        room: room.to_owned(),
    };
    // A stopped media plane holds nobody: the visit ends, the call too.
    let people = state.sfu.request(room_people).await.unwrap_or_else(|err| {
        tracing::debug!(%err, "media plane gone: the room counts as empty");
        Vec::new()
    });
    if !people.iter().any(|p| p.meta.identity == identity) {
        state.messaging.leave_room(room, identity).await;
    }
    // Viewers alone do not keep a room open.
    let remaining = people.iter().filter(|p| !p.meta.hidden).count();
    if remaining == 0 {
        // The call (if the room had one) ends with its last participant.
        state.messaging.call_room_empty(room).await;
    }
    close_when_empty(state, room, &people);
}

/// Someone left `room` (or did not get in) and `people` are still there: if no participant is
/// (viewers alone do not keep a room open), close it once the grace period passes unless
/// someone comes.
fn close_when_empty(state: &AppState, room: &str, people: &[sfu::ParticipantSnapshot]) {
    let remaining = people.iter().filter(|p| !p.meta.hidden).count();
    let Some((grace, epoch)) = state.rooms.left(room, remaining) else {
        return;
    };
    let (state, room) = (state.clone(), room.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        if state.rooms.close_if_idle(&room, epoch).is_some() {
            tracing::info!(room = %room, "room closed");
            if let Some(relay) = &state.relay {
                relay.placement.release(&room).await;
            }
            state.webhooks.send(WebhookEvent::RoomFinished { room });
        }
    });
}
