//! The limits on what clients can make the media plane hold ([`crate::config::Limits`]), and
//! a room's participant cap (set by signaling per join).

use super::*;

impl SfuCore {
    /// Refuses a join (`input::Join`, `input::JoinViewer`) when `room` already holds
    /// `max_participants` people, hidden viewers included (members on other workers as this
    /// core knows them; the driver's placement checks the exact count first).
    pub(super) fn check_room_cap(&self, room: &str, max: Option<u32>) -> Result<(), SfuError> {
        match max {
            Some(max) if self.rooms.members(room).len() >= max as usize => Err(SfuError::RoomFull),
            _ => Ok(()),
        }
    }

    /// Counts a session of `identity` on the node, unless it has as many as it may: checked and
    /// counted in one step, so joins of one identity on two workers at once cannot both pass
    /// the last place. A join that fails after this gives it back (`Node::session_ended`).
    pub(super) fn start_session(&self, identity: &str) -> Result<(), SfuError> {
        let limit = self.config.limits.sessions_per_identity;
        if self.node.try_start_session(identity, limit) {
            Ok(())
        } else {
            Err(SfuError::Capacity(format!(
                "this identity already has {limit} sessions, the most one may have"
            )))
        }
    }

    /// Refuses a join or a new peer connection in `room` when the server or the room is at its
    /// limit. The server's count is the node's (every worker's); the room's is this core's: a
    /// room spread over workers may hold the limit on each (its participant cap is checked
    /// over every worker by placement).
    pub(super) fn check_capacity(&self, room: &str) -> Result<(), SfuError> {
        let limits = self.config.limits;
        if self.node.peer_connections() >= limits.peer_connections {
            return Err(SfuError::Capacity(format!(
                "the server holds {} peer connections, its limit",
                limits.peer_connections
            )));
        }
        let in_room = self
            .peers
            .values()
            .filter(|p| self.rooms.room_name(&p.owner) == Some(room))
            .count();
        if in_room >= limits.peer_connections_per_room {
            return Err(SfuError::Capacity(format!(
                "the room holds {} peer connections, its limit",
                limits.peer_connections_per_room
            )));
        }
        Ok(())
    }
}
