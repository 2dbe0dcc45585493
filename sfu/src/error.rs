//! Errors the media plane reports to its caller (signaling), each mapping to one protocol code.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SfuError {
    #[error("not in a room")]
    NotInRoom,
    #[error("already in a room")]
    AlreadyInRoom,
    #[error("this participant may not publish")]
    PublishNotAllowed,
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    #[error("no subscriber offer is outstanding")]
    NoPendingOffer,
    #[error("no such peer connection")]
    UnknownSession,
    #[error("not subscribed to that track")]
    UnknownTrack,
    /// The SDP parses, but nothing in it can be carried: no m-line in a direction and with a
    /// codec Parley forwards.
    #[error("no usable media: {0}")]
    NoCommonMedia(String),
    /// More of something than the server allows (m-lines per offer, tracks per publish).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The server, the room or the identity holds as much as it may (see
    /// [`crate::config::Limits`]); trying again later may work.
    #[error("at capacity: {0}")]
    Capacity(String),
    /// The room holds as many people as its cap allows (hidden viewers count).
    #[error("the room is full")]
    RoomFull,
    #[error("invalid ICE candidate: {0}")]
    InvalidCandidate(String),
    #[error("the media plane is not running")]
    Stopped,
    #[error("internal media error: {0}")]
    Internal(String),
}

impl From<crate::rooms::RoomError> for SfuError {
    fn from(err: crate::rooms::RoomError) -> Self {
        use crate::rooms::RoomError;
        match err {
            RoomError::AlreadyInRoom => Self::AlreadyInRoom,
            RoomError::NotInRoom => Self::NotInRoom,
            RoomError::PublishNotAllowed => Self::PublishNotAllowed,
            RoomError::UnknownTrack => Self::UnknownTrack,
        }
    }
}
