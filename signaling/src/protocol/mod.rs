//! Signaling protocol v1: every message that crosses the WebSocket, defined once.
//!
//! Frames are JSON text, internally tagged by `"type"` (snake_case). Requests carry an `id`
//! chosen by the client and get exactly one reply whose `reply_to` echoes it: either the
//! request's typed success reply or an [`ServerMessage::Error`]. Server events carry no
//! `reply_to`. `docs/protocol.md` is the prose version of this file; keep them together.

use serde::{Deserialize, Serialize};

pub mod chat;
mod decode;
mod errors;
mod ice;
pub use decode::{decode, DecodeError};
pub use errors::ErrorCode;
pub use ice::IceServer;

use chat::{
    CallMedia, ChatMessage, ConversationInfo, InvitationInfo, MemberChange, ModerationAction,
    NewConversationKind, PresenceInfo, PresenceStatus, SyncBatch, SyncCursor,
};

/// The protocol versions this server speaks. A client names one in `hello`.
pub const SUPPORTED_VERSIONS: &[u32] = &[1];

/// Largest text frame the server reads as a message. Larger frames get `message_too_large`
/// and are discarded; the connection stays open. SDP offers with simulcast are ~6-10 KiB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What a moderator does to another participant of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomModeration {
    MuteAudio,
    MuteVideo,
    MuteAll,
    Unmute,
    Remove,
}

/// Which of the client's peer connections a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerTarget {
    /// The connection the client publishes on (client offers, server answers).
    Publisher,
    /// The connection the client receives on (server offers, client answers).
    Subscriber,
    /// A second publishing connection for a screen share (client offers, server answers), so
    /// sharing never renegotiates the camera's connection.
    Screen,
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

/// Tells the server what a track in a publish offer is, keyed by the msid track id of the
/// track's m-line in the offer (`a=msid:<stream> <track>`), not necessarily the sender's
/// `MediaStreamTrack.id` (Chromium writes that, Firefox an id of its own).
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

/// A session continued on a new socket (`welcome.resumed`): the room as it is now (events
/// sent to the lost socket may never have arrived) and the next resume token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    pub room: String,
    /// This session's participant, with its tracks.
    pub you: ParticipantInfo,
    /// Everyone else in the room, with their tracks.
    pub participants: Vec<ParticipantInfo>,
    /// For the next `hello.resume` (each token continues a session once).
    pub resume_token: String,
    /// TURN servers with fresh credentials (the old ones may have expired meanwhile), when the
    /// server has TURN configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ice_servers: Vec<IceServer>,
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
        /// The `resume_token` of a session whose socket was lost: within the server's resume
        /// window, this connection continues it (same participant, connections and tracks;
        /// `welcome.resumed` says so). Otherwise ignored: a new session, as without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Enter the room the token names. Reply: `joined`.
    Join {
        id: String,
        room: String,
        /// A room token the server minted for you (e.g. `call_invitation.token`), when the
        /// `hello` token is for another room. Same identity only.
        #[serde(default)]
        token: Option<String>,
    },
    /// Publisher offer (first or renegotiation). Reply: `publish_answer`.
    Publish {
        id: String,
        sdp: String,
        #[serde(default)]
        tracks: Vec<PublishTrack>,
        /// `publisher` (default) or `screen`.
        #[serde(default)]
        target: Option<PeerTarget>,
    },
    /// Answer to the latest `subscribe_offer`. Reply: `ok`.
    SubscribeAnswer { id: String, sdp: String },
    /// Restart ICE on the subscriber connection (the client's network changed): the server
    /// sends a `subscribe_offer` with new ICE credentials, after re-sending one still
    /// unanswered. Publishing connections restart from the client's side: `publish` with an
    /// offer made after `restartIce()`. Reply: `ok`.
    RestartIce { id: String },
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
    /// Moderators (the token's `moderate` grant): act on another participant of your room —
    /// stop forwarding their audio, video or both (`mute_*`), lift that (`unmute`), or remove
    /// them (their client gets `goodbye` with reason `removed`). Audit-logged. Reply: `ok`.
    ModerateParticipant {
        id: String,
        participant: String,
        action: RoomModeration,
    },
    /// Stop publishing one of your tracks (e.g. a screen share) and stay in the room; the room
    /// gets `track_unpublished`. Remove its sender and renegotiate afterwards. Reply: `ok`.
    Unpublish { id: String, track: String },
    /// Leave the room; the WebSocket stays open. Reply: `ok`.
    Leave { id: String },
    /// Liveness check. Reply: `pong`.
    Ping { id: String },
    /// Your conversations. Reply: `chat_conversations`.
    ChatConversations { id: String },
    /// Start a direct (one per pair: an existing one is returned) or group conversation.
    /// Reply: `chat_conversation`.
    ChatCreate {
        id: String,
        kind: NewConversationKind,
        /// The other identities (exactly one for `direct`).
        with: Vec<String>,
        #[serde(default)]
        title: Option<String>,
    },
    /// Send a message; the reply comes after it is committed. Resending the same
    /// `client_msg_id` returns the original (`duplicate: true`). Reply: `chat_ack`.
    ChatSend {
        id: String,
        conversation: String,
        client_msg_id: String,
        #[serde(default)]
        text: String,
        /// Attachment ids uploaded to this conversation (REST) and not sent yet.
        #[serde(default)]
        attachments: Vec<String>,
        #[serde(default)]
        reply_to: Option<String>,
    },
    /// Edit your own message. Reply: `chat_ack`.
    ChatEdit {
        id: String,
        message: String,
        text: String,
    },
    /// Delete your own message (moderators: any). A tombstone stays. Reply: `chat_ack`.
    ChatDelete { id: String, message: String },
    /// Add (`on: true`) or remove a reaction. Reply: `chat_ack`.
    ChatReact {
        id: String,
        message: String,
        emoji: String,
        on: bool,
    },
    /// Typing started or stopped; a start expires by itself after 6 s. Reply: `ok`.
    ChatTyping {
        id: String,
        conversation: String,
        typing: bool,
    },
    /// Receipts: everything up to these seqs was delivered to / read by you. Reply: `ok`.
    ChatMark {
        id: String,
        conversation: String,
        #[serde(default)]
        delivered: Option<i64>,
        #[serde(default)]
        read: Option<i64>,
    },
    /// A page of history, ascending: after `after`, else before `before` (or the newest).
    /// Reply: `chat_history`.
    ChatHistory {
        id: String,
        conversation: String,
        #[serde(default)]
        before: Option<i64>,
        #[serde(default)]
        after: Option<i64>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Catch-up after a reconnect: everything after each cursor, plus conversations not listed.
    /// Reply: `chat_sync`.
    ChatSync {
        id: String,
        #[serde(default)]
        cursors: Vec<SyncCursor>,
    },
    /// Moderate a member (role moderator/owner, or the token's `moderate` grant). Reply: `ok`.
    ChatModerate {
        id: String,
        conversation: String,
        action: ModerationAction,
        target: String,
    },
    /// Mark this device away or back online. Reply: `ok`.
    PresenceSet { id: String, status: PresenceStatus },
    /// Current presence of some identities. Reply: `presence_state`.
    PresenceQuery { id: String, identities: Vec<String> },
    /// Ring the other members of a conversation (or `invitees`). Reply: `call_invitation`.
    CallInvite {
        id: String,
        conversation: String,
        media: CallMedia,
        #[serde(default)]
        invitees: Vec<String>,
    },
    /// Accept a ringing invitation. Reply: `call_invitation` (with your token for its room).
    CallAccept { id: String, invitation: String },
    /// Decline a ringing invitation. Reply: `ok`.
    CallDecline { id: String, invitation: String },
    /// The caller stops ringing. Reply: `ok`.
    CallCancel { id: String, invitation: String },
}

impl ClientMessage {
    /// Every `type` the server understands, for telling "unknown type" from "bad fields".
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "join",
        "publish",
        "subscribe_answer",
        "restart_ice",
        "ice_candidate",
        "update_subscription",
        "set_track_muted",
        "moderate_participant",
        "unpublish",
        "leave",
        "ping",
        "chat_conversations",
        "chat_create",
        "chat_send",
        "chat_edit",
        "chat_delete",
        "chat_react",
        "chat_typing",
        "chat_mark",
        "chat_history",
        "chat_sync",
        "chat_moderate",
        "presence_set",
        "presence_query",
        "call_invite",
        "call_accept",
        "call_decline",
        "call_cancel",
    ];

    pub fn id(&self) -> &str {
        match self {
            Self::Hello { id, .. }
            | Self::Join { id, .. }
            | Self::Publish { id, .. }
            | Self::SubscribeAnswer { id, .. }
            | Self::RestartIce { id }
            | Self::IceCandidate { id, .. }
            | Self::UpdateSubscription { id, .. }
            | Self::SetTrackMuted { id, .. }
            | Self::ModerateParticipant { id, .. }
            | Self::Unpublish { id, .. }
            | Self::Leave { id }
            | Self::Ping { id }
            | Self::ChatConversations { id }
            | Self::ChatCreate { id, .. }
            | Self::ChatSend { id, .. }
            | Self::ChatEdit { id, .. }
            | Self::ChatDelete { id, .. }
            | Self::ChatReact { id, .. }
            | Self::ChatTyping { id, .. }
            | Self::ChatMark { id, .. }
            | Self::ChatHistory { id, .. }
            | Self::ChatSync { id, .. }
            | Self::ChatModerate { id, .. }
            | Self::PresenceSet { id, .. }
            | Self::PresenceQuery { id, .. }
            | Self::CallInvite { id, .. }
            | Self::CallAccept { id, .. }
            | Self::CallDecline { id, .. }
            | Self::CallCancel { id, .. } => id,
        }
    }
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
        /// `hello.resume` was accepted: this connection continues that session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumed: Option<Resumed>,
    },
    Joined {
        reply_to: String,
        room: String,
        /// This session's participant.
        you: ParticipantInfo,
        /// Everyone else already in the room, with their tracks.
        participants: Vec<ParticipantInfo>,
        /// The room's chat conversation (you are a member now), with the `chat` grant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation: Option<String>,
        /// With the `moderate` grant: the room's hidden WHEP viewers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        viewers: Vec<ParticipantInfo>,
        /// TURN servers with fresh credentials for this session's peer connections, when the
        /// server has TURN configured.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
        /// Secret for `hello.resume`, to continue this session on a new socket if this one is
        /// lost (absent when the server keeps no session after its socket).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
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
    /// To moderators: a hidden WHEP viewer started watching the room.
    ViewerJoined {
        participant: ParticipantInfo,
    },
    /// To moderators: a viewer stopped watching.
    ViewerLeft {
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
    /// (the msid track id from your offer, its key in `publish.tracks`; `track` is its sid); set
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
    ChatConversations {
        reply_to: String,
        conversations: Vec<ConversationInfo>,
    },
    ChatConversation {
        reply_to: String,
        conversation: ConversationInfo,
    },
    /// The message as stored now (sent, edited, deleted or reacted to).
    ChatAck {
        reply_to: String,
        message: ChatMessage,
        /// A resend of a `client_msg_id` already stored: this is the original.
        #[serde(default)]
        duplicate: bool,
    },
    ChatHistory {
        reply_to: String,
        conversation: String,
        messages: Vec<ChatMessage>,
    },
    ChatSync {
        reply_to: String,
        batches: Vec<SyncBatch>,
        /// Listed conversations you are no longer in.
        gone: Vec<String>,
    },
    PresenceState {
        reply_to: String,
        presence: Vec<PresenceInfo>,
    },
    /// Event: a new message in one of your conversations (also to your other devices).
    ChatMessage {
        message: ChatMessage,
    },
    /// Event: a message was edited, deleted or reacted to.
    ChatMessageUpdated {
        message: ChatMessage,
    },
    /// Event: someone started or stopped typing (a start lapses after 6 s: expect a stop).
    ChatTyping {
        conversation: String,
        identity: String,
        typing: bool,
    },
    /// Event: a member's receipts moved.
    ChatReceipt {
        conversation: String,
        identity: String,
        delivered_up_to: i64,
        read_up_to: i64,
    },
    /// Event: membership changed (you may be the one added or removed).
    ChatMember {
        conversation: String,
        identity: String,
        change: MemberChange,
    },
    /// Event: someone who shares a conversation with you changed presence.
    Presence {
        presence: PresenceInfo,
    },
    /// Reply to `call_invite` and `call_accept`: the call's room and your token for it (send
    /// `join` with both).
    CallInvitation {
        reply_to: String,
        invitation: InvitationInfo,
        room: String,
        token: String,
    },
    /// Event: you are being called (to every device of every invitee).
    CallRinging {
        invitation: InvitationInfo,
    },
    /// Event: an invitation you are part of changed (accepted, declined, busy, cancelled,
    /// missed). Stop ringing when your own entry is no longer `ringing`.
    CallUpdate {
        invitation: InvitationInfo,
    },
    /// Event: another of your devices accepted this call; stop ringing here.
    CallAnsweredElsewhere {
        invitation: InvitationInfo,
    },
}

impl ServerMessage {
    /// The request this replies to; `None` for events (and for errors not tied to a request).
    pub fn reply_to(&self) -> Option<&str> {
        match self {
            Self::Welcome { reply_to, .. }
            | Self::Joined { reply_to, .. }
            | Self::PublishAnswer { reply_to, .. }
            | Self::Ok { reply_to }
            | Self::Pong { reply_to }
            | Self::ChatConversations { reply_to, .. }
            | Self::ChatConversation { reply_to, .. }
            | Self::ChatAck { reply_to, .. }
            | Self::ChatHistory { reply_to, .. }
            | Self::ChatSync { reply_to, .. }
            | Self::PresenceState { reply_to, .. }
            | Self::CallInvitation { reply_to, .. } => Some(reply_to),
            Self::Error { reply_to, .. } => reply_to.as_deref(),
            Self::SubscribeOffer { .. }
            | Self::IceCandidate { .. }
            | Self::ParticipantJoined { .. }
            | Self::ParticipantLeft { .. }
            | Self::ViewerJoined { .. }
            | Self::ViewerLeft { .. }
            | Self::TrackPublished { .. }
            | Self::TrackUnpublished { .. }
            | Self::TrackMuted { .. }
            | Self::ActiveSpeakers { .. }
            | Self::PublisherLayers { .. }
            | Self::Goodbye { .. }
            | Self::ChatMessage { .. }
            | Self::ChatMessageUpdated { .. }
            | Self::ChatTyping { .. }
            | Self::ChatReceipt { .. }
            | Self::ChatMember { .. }
            | Self::Presence { .. }
            | Self::CallRinging { .. }
            | Self::CallUpdate { .. }
            | Self::CallAnsweredElsewhere { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
