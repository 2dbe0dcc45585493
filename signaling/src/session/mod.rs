//! One client's signaling session, independent of the socket: frames in, messages out.
//! `ws.rs` owns the WebSocket and feeds this; tests can drive it directly.

use crate::auth::{Audience, Claims};
use crate::messaging::ChatDevice;
use crate::protocol::{
    ClientMessage, ErrorCode, ParticipantInfo, ServerMessage, SUPPORTED_VERSIONS,
};
use crate::state::AppState;
use crate::webhooks::WebhookEvent;
use sfu::input::{Join, Leave, RoomPeople};
use sfu::{ParticipantMeta, ParticipantSid, ParticipantSnapshot};

mod convert;
mod media;
mod relayed;
mod resume;
pub(crate) use convert::sfu_error;
use convert::{participant_info, token_error};
pub use relayed::Reply;
pub use resume::{Handover, Parked};

pub struct Joined {
    pub sid: ParticipantSid,
    pub room: String,
    pub identity: String,
    /// The room takes audio only: video in publish offers is refused.
    pub audio_only: bool,
    /// What the token used to join grants in the room.
    pub grants: crate::auth::Grants,
    /// That token was a guest's.
    pub guest: bool,
}

pub struct Session {
    state: AppState,
    claims: Option<Claims>,
    joined: Option<Joined>,
    /// Media events for the joined participant; `None` outside a room.
    pub events: Option<sfu::EventReceiver>,
    /// This connection as a chat device (tokens with the `chat` grant, after `hello`).
    chat: Option<ChatDevice>,
    /// Chat events for this device, already serialized. Closed: it fell behind (resync).
    pub chat_events: Option<crate::fanout::DeviceEvents>,
    /// In a room: the secret that continues this session on a new socket (`resume.rs`).
    resume_token: Option<String>,
    /// Fires when a resume on another socket wants this session (`resume.rs`).
    pub handoff: Option<tokio::sync::oneshot::Receiver<Handover>>,
    /// In a room on another node of the cluster (this node holds the socket): its events
    /// arrive here.
    pub remote: Option<crate::cluster::RemoteRoom>,
    /// Held here for a socket on another node (`relayed.rs`).
    relayed: bool,
}

fn error(reply_to: Option<String>, code: ErrorCode, message: impl Into<String>) -> ServerMessage {
    ServerMessage::Error {
        reply_to,
        code,
        message: message.into(),
    }
}

impl Session {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            claims: None,
            joined: None,
            events: None,
            chat: None,
            chat_events: None,
            resume_token: None,
            handoff: None,
            remote: None,
            relayed: false,
        }
    }

    pub fn joined(&self) -> Option<&Joined> {
        self.joined.as_ref()
    }

    /// Whether `hello` succeeded on this connection.
    pub fn is_authenticated(&self) -> bool {
        self.claims.is_some()
    }

    /// Handles one text frame; always returns exactly one reply.
    pub async fn handle_text(&mut self, text: &str) -> ServerMessage {
        let message = match crate::protocol::decode(text) {
            Ok(message) => message,
            Err(refusal) => return error(refusal.reply_to, refusal.code, refusal.message),
        };
        let id = message.id().to_owned();
        match self.handle(message).await {
            Ok(reply) => reply,
            Err((code, message)) => error(Some(id), code, message),
        }
    }

    async fn handle(
        &mut self,
        message: ClientMessage,
    ) -> Result<ServerMessage, (ErrorCode, String)> {
        match message {
            ClientMessage::Ping { id } => Ok(ServerMessage::Pong { reply_to: id }),
            ClientMessage::Hello {
                id,
                version,
                token,
                resume,
            } => self.hello(id, version, &token, resume.as_deref()).await,
            other => {
                let Some(claims) = self.claims.clone() else {
                    return Err((
                        ErrorCode::NotAuthenticated,
                        "send hello with a token first".into(),
                    ));
                };
                self.authenticated(claims, other).await
            }
        }
    }

    async fn hello(
        &mut self,
        id: String,
        version: u32,
        token: &str,
        resume: Option<&str>,
    ) -> Result<ServerMessage, (ErrorCode, String)> {
        if self.claims.is_some() {
            return Err((
                ErrorCode::AlreadyAuthenticated,
                "hello was already accepted".into(),
            ));
        }
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err((
                ErrorCode::UnsupportedVersion,
                format!("protocol version {version} is not supported; this server speaks {SUPPORTED_VERSIONS:?}"),
            ));
        }
        let claims = self
            .state
            .tokens
            .verify(token, Audience::Participant)
            .map_err(token_error)?;
        if let Err(err) = self
            .state
            .store
            .upsert_user(&claims.sub, &claims.name)
            .await
        {
            // The call must not depend on the chat database being healthy.
            tracing::warn!(%err, "could not record user");
        }
        if let Some(resume) = resume {
            if let Some(resumed) = self.resume(resume, &claims.sub).await? {
                return Ok(ServerMessage::Welcome {
                    reply_to: id,
                    version,
                    server: format!("parley/{}", env!("CARGO_PKG_VERSION")),
                    identity: claims.sub,
                    name: claims.name,
                    resumed: Some(resumed),
                });
            }
        }
        if claims.grants.chat {
            let (device, events) = self
                .state
                .messaging
                .connect(
                    &claims.sub,
                    &claims.name,
                    claims.grants.moderate.then(|| claims.room.clone()),
                )
                .await;
            self.chat = Some(device);
            self.chat_events = Some(events);
        }
        let reply = ServerMessage::Welcome {
            reply_to: id,
            version,
            server: format!("parley/{}", env!("CARGO_PKG_VERSION")),
            identity: claims.sub.clone(),
            name: claims.name.clone(),
            resumed: None,
        };
        self.claims = Some(claims);
        Ok(reply)
    }

    async fn authenticated(
        &mut self,
        claims: Claims,
        message: ClientMessage,
    ) -> Result<ServerMessage, (ErrorCode, String)> {
        match message {
            ClientMessage::Join { id, room, token } => {
                let claims = self.join_claims(claims, token)?;
                self.join(&claims, id, room).await
            }
            call @ (ClientMessage::CallInvite { .. }
            | ClientMessage::CallAccept { .. }
            | ClientMessage::CallDecline { .. }
            | ClientMessage::CallCancel { .. }) => self.call(call).await,
            ClientMessage::Publish {
                id,
                sdp,
                tracks,
                target,
            } => {
                let claims = self.room_claims(claims);
                self.publish(&claims, id, sdp, tracks, target).await
            }
            ClientMessage::ModerateParticipant {
                id,
                participant,
                action,
            } => {
                let claims = self.room_claims(claims);
                self.moderate(&claims, id, participant, action).await
            }
            ClientMessage::Leave { id } => {
                if self.joined.is_none() {
                    return Err((ErrorCode::NotInRoom, "not in a room".into()));
                }
                self.leave().await;
                Ok(ServerMessage::Ok { reply_to: id })
            }
            media @ (ClientMessage::SubscribeAnswer { .. }
            | ClientMessage::RestartIce { .. }
            | ClientMessage::IceCandidate { .. }
            | ClientMessage::UpdateSubscription { .. }
            | ClientMessage::SetTrackMuted { .. }
            | ClientMessage::Unpublish { .. }) => {
                let sid = self.require_room()?;
                self.media(sid, media).await
            }
            chat @ (ClientMessage::ChatConversations { .. }
            | ClientMessage::ChatCreate { .. }
            | ClientMessage::ChatSend { .. }
            | ClientMessage::ChatEdit { .. }
            | ClientMessage::ChatDelete { .. }
            | ClientMessage::ChatReact { .. }
            | ClientMessage::ChatTyping { .. }
            | ClientMessage::ChatMark { .. }
            | ClientMessage::ChatHistory { .. }
            | ClientMessage::ChatSync { .. }
            | ClientMessage::ChatModerate { .. }
            | ClientMessage::PresenceSet { .. }
            | ClientMessage::PresenceQuery { .. }) => {
                let Some(device) = &self.chat else {
                    return Err((ErrorCode::Forbidden, "the token does not grant chat".into()));
                };
                self.state.messaging.handle(device, chat).await
            }
            ClientMessage::Hello { .. } | ClientMessage::Ping { .. } => Err((
                ErrorCode::Internal,
                "hello and ping are handled before authentication".into(),
            )),
        }
    }

    async fn join(
        &mut self,
        claims: &Claims,
        id: String,
        room: String,
    ) -> Result<ServerMessage, (ErrorCode, String)> {
        if self.joined.is_some() {
            return Err((
                ErrorCode::AlreadyInRoom,
                "leave the current room first".into(),
            ));
        }
        if !claims.grants.join {
            return Err((ErrorCode::Forbidden, "the token does not grant join".into()));
        }
        if claims.room != room {
            return Err((
                ErrorCode::WrongRoom,
                "the token is for a different room".into(),
            ));
        }
        let admitted = crate::lifecycle::admit(&self.state, &room, claims)
            .await
            .map_err(|err| match err {
                crate::rooms::AdmitError::NotFound => (ErrorCode::RoomNotFound, err.to_string()),
                crate::rooms::AdmitError::Banned { .. } => (ErrorCode::Banned, err.to_string()),
                crate::rooms::AdmitError::GuestsNotAllowed => {
                    (ErrorCode::Forbidden, err.to_string())
                }
                crate::rooms::AdmitError::Elsewhere
                | crate::rooms::AdmitError::Unplaced
                | crate::rooms::AdmitError::Draining => (ErrorCode::Unavailable, err.to_string()),
            })?;
        let meta = ParticipantMeta {
            sid: ParticipantSid::random(),
            identity: claims.sub.clone(),
            name: claims.name.clone(),
            can_publish: claims.grants.publish,
            can_subscribe: claims.grants.subscribe,
            hidden: false,
        };
        let (events_tx, events_rx) = sfu::event_channel();
        let join = Join {
            room: room.clone(),
            meta: meta.clone(),
            max_participants: admitted.config.max_participants,
        };
        let (others, viewers) = self.enter(join, events_tx, claims.grants.moderate).await?;
        tracing::info!(room = %room, participant = %meta.sid, "joined");
        self.state.webhooks.send(WebhookEvent::ParticipantJoined {
            room: room.clone(),
            identity: meta.identity.clone(),
            sid: meta.sid.to_string(),
        });
        // The call's side-panel conversation; the call works without it if chat storage fails.
        // A held session's device is on the socket's node; the conversation is the store's.
        let conversation = if self.chat.is_some() || (self.relayed && claims.grants.chat) {
            self.state.messaging.join_room(&room, &claims.sub).await
        } else {
            None
        };
        let you = ParticipantInfo {
            sid: meta.sid.to_string(),
            identity: meta.identity,
            name: meta.name,
            tracks: Vec::new(),
        };
        self.joined = Some(Joined {
            sid: meta.sid,
            room: room.clone(),
            identity: claims.sub.clone(),
            audio_only: admitted.config.audio_only,
            grants: claims.grants,
            guest: claims.guest,
        });
        self.state.messaging.track_in_call(&claims.sub, true);
        self.state
            .messaging
            .call_room_joined(&room, &claims.sub)
            .await;
        self.events = Some(events_rx);
        Ok(ServerMessage::Joined {
            resume_token: self.issue_resume_token(),
            reply_to: id,
            viewers: viewers.iter().map(participant_info).collect(),
            room,
            you,
            participants: others.iter().map(participant_info).collect(),
            conversation,
            ice_servers: self.ice_servers(),
        })
    }

    /// Joins the room in the media plane (which checks its cap in the same step); returns who
    /// is in and, for a moderator, who watches unseen (later comers arrive as
    /// `viewer_joined`).
    async fn enter(
        &self,
        join: Join,
        events: sfu::EventSender,
        moderator: bool,
    ) -> Result<(Vec<ParticipantSnapshot>, Vec<ParticipantSnapshot>), (ErrorCode, String)> {
        let room = join.room.clone();
        let sfu = &self.state.sfu;
        let others = match sfu.join_with_events(join, events).await {
            Ok(others) => others,
            Err(err) => {
                crate::lifecycle::join_refused(&self.state, &room).await;
                return Err(sfu_error(err));
            }
        };
        if !moderator {
            return Ok((others, Vec::new()));
        }
        // Fails only when the media plane stopped, which took the participant with it.
        let people = sfu.request(RoomPeople { room }).await.map_err(sfu_error)?;
        let viewers = people.into_iter().filter(|p| p.meta.hidden).collect();
        Ok((others, viewers))
    }

    /// TURN servers with fresh credentials for this session's connections (none without TURN).
    fn ice_servers(&self) -> Vec<crate::protocol::IceServer> {
        self.state
            .config
            .turn
            .iter()
            .map(|t| t.ice_server())
            .collect()
    }

    /// Joined with the `moderate` grant: sees the room's hidden viewers.
    fn moderates(&self) -> bool {
        self.joined.as_ref().is_some_and(|j| j.grants.moderate)
    }

    /// In a room (joined and not left).
    pub fn in_room(&self) -> bool {
        self.joined.is_some()
    }

    fn chat_device(&self) -> Result<&ChatDevice, (ErrorCode, String)> {
        self.chat
            .as_ref()
            .ok_or((ErrorCode::Forbidden, "the token does not grant chat".into()))
    }

    /// The claims that rule media in the room: the room token's, if one was used to join.
    fn room_claims(&self, hello: Claims) -> Claims {
        match &self.joined {
            Some(joined) => Claims {
                grants: joined.grants,
                guest: joined.guest,
                ..hello
            },
            None => hello,
        }
    }

    fn require_room(&self) -> Result<ParticipantSid, (ErrorCode, String)> {
        self.joined
            .as_ref()
            .map(|j| j.sid.clone())
            .ok_or((ErrorCode::NotInRoom, "join a room first".into()))
    }

    /// Leaves the room if in one (also called when the socket closes).
    pub async fn leave(&mut self) {
        // A room on another node: dropping the link closes the session there.
        self.remote = None;
        if let Some(token) = self.resume_token.take() {
            self.state.parked.forget(&token);
        }
        self.handoff = None;
        if let Some(joined) = self.joined.take() {
            self.events = None;
            let leave = Leave {
                sid: joined.sid.clone(),
            };
            if let Err(err) = self.state.sfu.request(leave).await {
                // Stopped: nobody is in a room any more.
                tracing::debug!(%err, "leaving a stopped media plane");
            }
            tracing::info!(room = %joined.room, participant = %joined.sid, "left");
            self.state.webhooks.send(WebhookEvent::ParticipantLeft {
                room: joined.room.clone(),
                identity: joined.identity.clone(),
                sid: joined.sid.to_string(),
            });
            self.state.messaging.track_in_call(&joined.identity, false);
            crate::lifecycle::participant_left(&self.state, &joined.room, &joined.identity).await;
        }
    }

    /// The socket closed: leave the room and go offline as this device.
    pub async fn close(&mut self) {
        self.leave().await;
        self.chat_events = None;
        if let Some(device) = self.chat.take() {
            self.state.messaging.disconnect(&device).await;
        }
    }
}
