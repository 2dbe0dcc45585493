//! What happens around rooms as people come and go: an empty room closes after its grace
//! period (unless someone returns), which ends it for webhooks.

use crate::state::AppState;
use crate::webhooks::WebhookEvent;

/// `identity` left `room`: their visit to the room's conversation ends with their last session
/// there; if the room is now empty, close it once the grace period passes.
pub async fn participant_left(state: &AppState, room: &str, identity: &str) {
    let people = state.sfu.room_people(room).await;
    if !people.iter().any(|p| p.meta.identity == identity) {
        state.messaging.leave_room(room, identity).await;
    }
    let remaining = people.len();
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
