//! The sessions a node holds for sockets on other nodes (`relay.rs`): each a [`Session`] like a
//! local socket's, fed the socket's frames in order, its events sent back to the socket's node.

use super::relay::{events_subject, EventHeader, HeldInput, Op, Relay, HELD_IDLE, MAX_HELD};
use super::{frame, unframe};
use crate::auth::Claims;
use crate::protocol::ServerMessage;
use crate::session::Session;
use crate::state::AppState;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Other nodes' requests, one at a time in the order they came (a held session gets its
/// socket's frames in order), until shutdown.
pub(super) async fn serve(relay: Arc<Relay>, state: AppState, mut asked: async_nats::Subscriber) {
    let mut shutdown = state.shutdown.clone();
    loop {
        let message = tokio::select! {
            message = asked.next() => message,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Some(message) = message else { return };
        let Some(reply) = message.reply.clone() else {
            // Only close is sent without waiting for an answer.
            if let Some((Op::Close { from, conn }, _)) = unframe::<Op>(&message.payload) {
                relay.drop_held(&from, conn);
            }
            continue;
        };
        let answer = match unframe::<Op>(&message.payload) {
            Some((Op::Open { from, conn, claims }, _)) => open(&relay, &state, from, conn, *claims),
            Some((Op::Frame { from, conn }, text)) => {
                match relay.held_input(&from, conn) {
                    Some(held) => {
                        let input = HeldInput::Frame {
                            text: text.to_owned(),
                            reply: reply.clone(),
                        };
                        match held.try_send(input) {
                            // The held session answers.
                            Ok(()) => continue,
                            Err(_) => refusal("the session here is busy or gone; try again"),
                        }
                    }
                    None => {
                        refusal("no session here for this socket (the node restarted?); join again")
                    }
                }
            }
            Some((Op::Close { from, conn }, _)) => {
                relay.drop_held(&from, conn);
                String::new()
            }
            None => refusal("malformed relay request"),
        };
        let _ = relay.client().publish(reply, answer.into()).await;
    }
}

/// Why a request is refused, as its answer: the socket's node turns it into `unavailable`
/// (a frame's answer is otherwise a message, which starts with `{`; `open`'s is empty).
fn refusal(why: &str) -> String {
    why.to_owned()
}

fn open(relay: &Arc<Relay>, state: &AppState, from: String, conn: u64, claims: Claims) -> String {
    if *state.shutdown.borrow() {
        return refusal("this node is stopping");
    }
    let (tx, rx) = mpsc::channel(super::relay::HELD_QUEUE);
    if !relay.hold(&from, conn, tx, MAX_HELD) {
        return refusal("this node holds as many relayed sessions as it may");
    }
    let session = Session::relayed(state.clone(), claims);
    tokio::spawn(run(relay.clone(), state.clone(), session, (from, conn), rx));
    String::new()
}

/// One held session until its socket closes, it leaves its room (or never joins one within
/// [`HELD_IDLE`]), the socket's node goes silent, or this node stops.
async fn run(
    relay: Arc<Relay>,
    state: AppState,
    mut session: Session,
    (from, conn): (String, u64),
    mut inputs: mpsc::Receiver<HeldInput>,
) {
    let mut shutdown = state.shutdown.clone();
    let mut idle_until = Instant::now() + HELD_IDLE;
    loop {
        let in_room = session.in_room();
        let idle = async move {
            if in_room {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep_until(idle_until).await;
        };
        let event = async {
            match session.events.as_mut() {
                Some(events) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        let stopping = async {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        tokio::select! {
            input = inputs.recv() => match input {
                Some(HeldInput::Frame { text, reply }) => {
                    let answer = Box::pin(session.handle_text(&text)).await;
                    let text = serde_json::to_string(&answer).unwrap_or_default();
                    let _ = relay.client().publish(reply, text.into()).await;
                    if !session.in_room() {
                        idle_until = Instant::now() + HELD_IDLE;
                    }
                }
                // The socket closed, left, or its node went silent.
                None => break,
            },
            event = event => {
                let message = match event {
                    Some(event) => session.event_message(event),
                    // Cut off (too slow), or the media plane stopped.
                    None => {
                        session.events = None;
                        let stopping = *state.shutdown.borrow();
                        let reason = if stopping { "migrate" } else { "too_slow" };
                        Some(ServerMessage::Goodbye { reason: reason.into() })
                    }
                };
                let Some(message) = message else { continue };
                let goodbye = matches!(message, ServerMessage::Goodbye { .. });
                tell(&relay, &from, conn, &message, goodbye).await;
                if goodbye {
                    break;
                }
            }
            () = idle => break,
            () = stopping => {
                // The room is not here any more (`Server::shutdown` ended this node's claims):
                // its people rejoin, and it is placed anew.
                let bye = ServerMessage::Goodbye { reason: "migrate".into() };
                tell(&relay, &from, conn, &bye, true).await;
                break;
            }
        }
    }
    relay.drop_held(&from, conn);
    session.close().await;
}

async fn tell(relay: &Relay, node: &str, conn: u64, message: &ServerMessage, goodbye: bool) {
    let body = serde_json::to_string(message).unwrap_or_default();
    if let Some(payload) = frame(&EventHeader { conn, goodbye }, &body) {
        let subject = events_subject(relay.cluster(), node);
        if relay.client().publish(subject, payload).await.is_err() {
            relay.count_failure();
        }
    }
}
