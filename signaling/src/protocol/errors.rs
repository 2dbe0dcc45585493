//! The codes of `error` replies (documented in `docs/protocol.md`).

use serde::{Deserialize, Serialize};

/// Error codes of `error` replies. Stable strings: clients switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    UnknownType,
    InvalidMessage,
    MessageTooLarge,
    UnsupportedVersion,
    NotAuthenticated,
    AlreadyAuthenticated,
    InvalidToken,
    TokenExpired,
    Forbidden,
    WrongRoom,
    NotInRoom,
    AlreadyInRoom,
    InvalidSdp,
    /// The SDP parses but carries nothing Parley can forward (no codec or direction in common).
    UnsupportedMedia,
    NoPendingOffer,
    UnknownSession,
    InvalidCandidate,
    UnknownTrack,
    RateLimited,
    ServerShuttingDown,
    /// `moderate_participant`: no participant with that sid in your room.
    UnknownParticipant,
    /// `join`: the room does not exist and this server only opens rooms created by its API.
    RoomNotFound,
    /// `join`: the room has its maximum number of participants.
    RoomFull,
    /// The server, the room or the identity holds as many sessions or peer connections as it
    /// may; try again later.
    AtCapacity,
    /// Chat: the conversation, message or attachment does not exist.
    NotFound,
    /// Chat: you are not a member of that conversation.
    NotMember,
    /// Chat: muted in that conversation.
    Muted,
    /// Chat: banned from that conversation.
    Banned,
    /// The request contradicts the current state (editing a deleted message, ...).
    Conflict,
    /// Storage is unavailable for a moment: retry the same request (nothing acknowledged was
    /// lost; a resend with the same `client_msg_id` cannot duplicate).
    Unavailable,
    /// This device fell too far behind on events; reconnect and `chat_sync`.
    ResyncRequired,
    Internal,
}
