//! Signaling protocol v1: every message that crosses the WebSocket, defined once.
//!
//! Frames are JSON text, internally tagged by `"type"` (snake_case). Requests carry an `id`
//! chosen by the client and get exactly one reply whose `reply_to` echoes it: either the
//! request's typed success reply or an [`ServerMessage::Error`]. Server events carry no
//! `reply_to`. `docs/protocol.md` is the prose version of this file; keep them together.

use serde::{Deserialize, Serialize};

/// The protocol versions this server speaks. A client names one in `hello`.
pub const SUPPORTED_VERSIONS: &[u32] = &[1];

/// Largest text frame the server reads as a message. Larger frames get `message_too_large`
/// and are discarded; the connection stays open. SDP offers with simulcast are ~6-10 KiB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Which of the client's two peer connections a candidate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerTarget {
    /// The connection the client publishes on (client offers, server answers).
    Publisher,
    /// The connection the client receives on (server offers, client answers).
    Subscriber,
}

/// An ICE candidate as `RTCIceCandidateInit` spells it in browsers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        default,
        rename = "sdpMLineIndex",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_mline_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Camera,
    Microphone,
    Screen,
    ScreenAudio,
    Unknown,
}

/// Tells the server what a track in a publish offer is, keyed by the sender's
/// `MediaStreamTrack.id` (the msid track id in the SDP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishTrack {
    pub track_id: String,
    pub source: TrackSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    /// Server-assigned track id. In subscriber offers it is also the msid stream id, so a
    /// browser maps `RTCTrackEvent.streams[0].id` to this track.
    pub sid: String,
    /// The publishing participant's `sid`.
    pub participant: String,
    pub kind: TrackKind,
    pub source: TrackSource,
    /// Codec mime type as published, e.g. `video/VP8`.
    pub mime_type: String,
    /// The publisher muted it (see `set_track_muted`).
    #[serde(default)]
    pub muted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// Server-assigned session id, unique per join (one identity may join from two tabs).
    pub sid: String,
    pub identity: String,
    pub name: String,
    pub tracks: Vec<TrackInfo>,
}

/// One entry of `active_speakers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerLevel {
    /// The participant's `sid`.
    pub sid: String,
    /// Mean loudness over the last second, 0..=1.
    pub level: f32,
}

/// Messages from client to server. All are requests: each carries `id` and gets one reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a connection: protocol version and the JWT. Reply: `welcome`.
    Hello {
        id: String,
        version: u32,
        token: String,
    },
    /// Enter the room the token names. Reply: `joined`.
    Join { id: String, room: String },
    /// Publisher offer (first or renegotiation). Reply: `publish_answer`.
    Publish {
        id: String,
        sdp: String,
        #[serde(default)]
        tracks: Vec<PublishTrack>,
    },
    /// Answer to the latest `subscribe_offer`. Reply: `ok`.
    SubscribeAnswer { id: String, sdp: String },
    /// Trickled client candidate. `candidate: null` is not sent; end-of-candidates is implicit.
    IceCandidate {
        id: String,
        target: PeerTarget,
        candidate: IceCandidate,
    },
    /// What this client wants of one received track: `paused`, at most `max_layer` (0 = the
    /// smallest simulcast layer), or the layer that fits `width`x`height` device pixels.
    /// Without any of them: the best layer. Reply: `ok`.
    UpdateSubscription {
        id: String,
        track: String,
        #[serde(default)]
        paused: bool,
        #[serde(default)]
        max_layer: Option<u8>,
        #[serde(default)]
        width: Option<u16>,
        #[serde(default)]
        height: Option<u16>,
    },
    /// Mute or unmute one of your published tracks (by sid); the room gets `track_muted`.
    /// Media keeps flowing: the browser sends silence or black while muted. Reply: `ok`.
    SetTrackMuted {
        id: String,
        track: String,
        muted: bool,
    },
    /// Stop publishing one of your tracks (e.g. a screen share) and stay in the room; the room
    /// gets `track_unpublished`. Remove its sender and renegotiate afterwards. Reply: `ok`.
    Unpublish { id: String, track: String },
    /// Leave the room; the WebSocket stays open. Reply: `ok`.
    Leave { id: String },
    /// Liveness check. Reply: `pong`.
    Ping { id: String },
}

impl ClientMessage {
    /// Every `type` the server understands, for telling "unknown type" from "bad fields".
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "join",
        "publish",
        "subscribe_answer",
        "ice_candidate",
        "update_subscription",
        "set_track_muted",
        "unpublish",
        "leave",
        "ping",
    ];

    pub fn id(&self) -> &str {
        match self {
            Self::Hello { id, .. }
            | Self::Join { id, .. }
            | Self::Publish { id, .. }
            | Self::SubscribeAnswer { id, .. }
            | Self::IceCandidate { id, .. }
            | Self::UpdateSubscription { id, .. }
            | Self::SetTrackMuted { id, .. }
            | Self::Unpublish { id, .. }
            | Self::Leave { id }
            | Self::Ping { id } => id,
        }
    }
}

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
    NoPendingOffer,
    UnknownSession,
    InvalidCandidate,
    UnknownTrack,
    RateLimited,
    ServerShuttingDown,
    Internal,
}

/// Messages from server to client: replies (with `reply_to`) and events (without).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        reply_to: String,
        version: u32,
        server: String,
        identity: String,
        name: String,
    },
    Joined {
        reply_to: String,
        room: String,
        /// This session's participant.
        you: ParticipantInfo,
        /// Everyone else already in the room, with their tracks.
        participants: Vec<ParticipantInfo>,
    },
    PublishAnswer {
        reply_to: String,
        sdp: String,
    },
    Ok {
        reply_to: String,
    },
    Pong {
        reply_to: String,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        code: ErrorCode,
        message: String,
    },
    /// Server offer for the subscriber connection; answer with `subscribe_answer`.
    SubscribeOffer {
        sdp: String,
    },
    /// Server candidate (they are also in the SDP: ICE-lite, host candidates only).
    IceCandidate {
        target: PeerTarget,
        candidate: IceCandidate,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        sid: String,
    },
    TrackPublished {
        track: TrackInfo,
    },
    TrackUnpublished {
        sid: String,
        participant: String,
    },
    /// A publisher muted or unmuted its track `track`.
    TrackMuted {
        track: String,
        participant: String,
        muted: bool,
    },
    /// Who is speaking, loudest first; sent when the list changes, at most every 400 ms.
    ActiveSpeakers {
        speakers: Vec<SpeakerLevel>,
    },
    /// To a publisher: send only these simulcast encodings (by RID) of your track `track_id`
    /// (your sender's `MediaStreamTrack.id`; `track` is its sid); set
    /// `RTCRtpEncodingParameters.active` accordingly. Nobody receives the others right now.
    PublisherLayers {
        track: String,
        track_id: String,
        active: Vec<String>,
    },
    /// The server is going away (shutdown) or removed this session; the socket closes next.
    Goodbye {
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_round_trip_with_snake_case_tags() {
        let cases = [
            (
                r#"{"type":"hello","id":"1","version":1,"token":"t"}"#,
                ClientMessage::Hello {
                    id: "1".into(),
                    version: 1,
                    token: "t".into(),
                },
            ),
            (
                r#"{"type":"subscribe_answer","id":"2","sdp":"v=0"}"#,
                ClientMessage::SubscribeAnswer {
                    id: "2".into(),
                    sdp: "v=0".into(),
                },
            ),
            (
                r#"{"type":"ice_candidate","id":"3","target":"publisher","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#,
                ClientMessage::IceCandidate {
                    id: "3".into(),
                    target: PeerTarget::Publisher,
                    candidate: IceCandidate {
                        candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                        sdp_mid: Some("0".into()),
                        sdp_mline_index: Some(0),
                        username_fragment: None,
                    },
                },
            ),
        ];
        for (json, expected) in cases {
            let parsed: ClientMessage = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, expected);
            let back: ClientMessage =
                serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
            assert_eq!(back, expected);
        }
    }

    #[test]
    fn every_declared_type_parses_and_no_other() {
        for ty in ClientMessage::TYPES {
            let bare = format!(r#"{{"type":"{ty}"}}"#);
            let err = serde_json::from_str::<ClientMessage>(&bare).unwrap_err();
            assert!(err.to_string().contains("missing field"), "{ty}: {err}");
        }
        let err = serde_json::from_str::<ClientMessage>(r#"{"type":"dance","id":"1"}"#);
        assert!(err.is_err());
    }

    #[test]
    fn error_reply_shape_is_stable() {
        let msg = ServerMessage::Error {
            reply_to: Some("7".into()),
            code: ErrorCode::InvalidSdp,
            message: "bad".into(),
        };
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"type":"error","reply_to":"7","code":"invalid_sdp","message":"bad"}"#
        );
    }
}
