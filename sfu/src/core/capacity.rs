//! The limits on what clients can make the media plane hold ([`crate::config::Limits`]), and
//! a room's participant cap (set by signaling per join).

use super::*;

impl SfuCore {
    /// Refuses a join (`input::Join`, `input::JoinViewer`) when `room` already holds
    /// `max_participants` people, hidden viewers included.
    pub(super) fn check_room_cap(&self, room: &str, max: Option<u32>) -> Result<(), SfuError> {
        match max {
            Some(max) if self.rooms.members(room).len() >= max as usize => Err(SfuError::RoomFull),
            _ => Ok(()),
        }
    }

    /// Refuses a join (with the joiner's identity) or a new peer connection in `room` when the
    /// server, the room or the identity is at its limit. The server's and the identity's counts
    /// are the node's (every worker's); a room lives on one worker, so its count is this core's.
    pub(super) fn check_capacity(
        &self,
        room: &str,
        identity: Option<&str>,
    ) -> Result<(), SfuError> {
        let limits = self.config.limits;
        if let Some(identity) = identity {
            if self.node.sessions_of(identity) >= limits.sessions_per_identity {
                return Err(SfuError::Capacity(format!(
                    "this identity already has {} sessions, the most one may have",
                    limits.sessions_per_identity
                )));
            }
        }
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
