//! What happens around rooms as people come and go: an empty room closes after its grace
//! period (unless someone returns), which ends it for webhooks.

use crate::state::AppState;
use crate::webhooks::WebhookEvent;

/// Someone left `room`: if it is now empty, close it once the grace period passes.
pub async fn participant_left(state: &AppState, room: &str) {
    let remaining = state.sfu.room_people(room).await.len();
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
