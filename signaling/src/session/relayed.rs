//! A session whose room is on another node of a cluster (`cluster/relay.rs`): on this node
//! (the socket's) a `join` for a room held elsewhere opens a session there and, from then on,
//! the room's requests go there and its answers and events come back as text. On the room's
//! node the session is held ([`Session::relayed`]): admission claims the room there as for
//! any join (`lifecycle::admit`), and it issues no resume token (a lost socket rejoins; its
//! session is on another node).

use super::{error, Session};
use crate::auth::Claims;
use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
use crate::state::AppState;

/// What a client's frame is answered with.
pub enum Reply {
    /// Answered here (boxed: most replies are small, one variant need not carry the largest).
    Message(Box<ServerMessage>),
    /// Answered by the room's node, already serialized.
    Relayed(String),
}

/// Requests about the room the session is in (or joins): these go to the room's node.
fn room_scoped(message: &ClientMessage) -> bool {
    matches!(
        message,
        ClientMessage::Join { .. }
            | ClientMessage::Publish { .. }
            | ClientMessage::ModerateParticipant { .. }
            | ClientMessage::Leave { .. }
            | ClientMessage::SubscribeAnswer { .. }
            | ClientMessage::RestartIce { .. }
            | ClientMessage::IceCandidate { .. }
            | ClientMessage::UpdateSubscription { .. }
            | ClientMessage::SetTrackMuted { .. }
            | ClientMessage::Unpublish { .. }
    )
}

fn is_joined(answer: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(answer)
        .ok()
        .is_some_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("joined"))
}

fn unavailable(err: impl std::fmt::Display) -> (ErrorCode, String) {
    (ErrorCode::Unavailable, err.to_string())
}

impl Session {
    /// A session held here for a socket on another node, authenticated there with `claims`.
    pub fn relayed(state: AppState, claims: Claims) -> Self {
        let mut session = Self::new(state);
        session.claims = Some(claims);
        session.relayed = true;
        session
    }

    /// Handles one text frame from this node's socket; always exactly one reply, from here
    /// or from the room's node.
    pub async fn handle_frame(&mut self, text: &str) -> Reply {
        let message = match crate::protocol::decode(text) {
            Ok(message) => message,
            Err(refusal) => {
                let refusal = error(refusal.reply_to, refusal.code, refusal.message);
                return Reply::Message(Box::new(refusal));
            }
        };
        let id = message.id().to_owned();
        let outcome = match self.relay_frame(&message, text).await {
            Some(Ok(answer)) => return Reply::Relayed(answer),
            Some(Err(failure)) => Err(failure),
            None => self.handle(message).await,
        };
        Reply::Message(Box::new(match outcome {
            Ok(reply) => reply,
            Err((code, message)) => error(Some(id), code, message),
        }))
    }

    /// Sends the frame to the room's node when the room is (or is placed) on another node;
    /// `None`: handled here.
    async fn relay_frame(
        &mut self,
        message: &ClientMessage,
        text: &str,
    ) -> Option<Result<String, (ErrorCode, String)>> {
        let relay = self.state.relay.clone()?;
        if self.relayed || !room_scoped(message) {
            return None;
        }
        if let Some(remote) = &self.remote {
            let answer = relay.frame(remote, text).await.map_err(unavailable);
            if matches!(message, ClientMessage::Leave { .. }) && answer.is_ok() {
                self.remote = None;
            }
            return Some(answer);
        }
        let ClientMessage::Join { room, token, .. } = message else {
            return None;
        };
        // Refusals that need no room (in one already, no join grant, the wrong room) are
        // answered here, before a room is placed.
        let claims = self.join_claims(self.claims.clone()?, token.clone()).ok()?;
        if self.joined.is_some() || !claims.grants.join || claims.room != *room {
            return None;
        }
        let holder = match relay.placement.place(room).await {
            Ok(holder) => holder,
            Err(err) => return Some(Err(unavailable(format!("cannot place the room: {err}")))),
        };
        if holder == relay.me() {
            return None;
        }
        let hello = self.claims.clone()?;
        let remote = match relay.open(&holder, &hello).await {
            Ok(remote) => remote,
            Err(err) => return Some(Err(unavailable(err))),
        };
        let answer = relay.frame(&remote, text).await.map_err(unavailable);
        if answer.as_deref().is_ok_and(is_joined) {
            tracing::info!(room = %room, node = %holder, "joined a room on another node");
            self.remote = Some(remote);
        }
        Some(answer)
    }

    /// One of several nodes.
    pub fn clustered(&self) -> bool {
        self.state.relay.is_some()
    }

    /// The relayed room ended (a goodbye, or the link fell behind).
    pub fn drop_remote(&mut self) {
        self.remote = None;
    }
}
