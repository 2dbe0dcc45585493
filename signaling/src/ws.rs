//! The WebSocket loop: reads frames into the [`Session`], writes its replies and media events,
//! and says goodbye on shutdown. Frames up to 1 MiB are read (so an oversized message gets a
//! `message_too_large` reply instead of a dropped connection); larger frames close the socket.

use crate::protocol::{ErrorCode, ServerMessage};
use crate::session::Session;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;

/// Frames above this close the connection; between the protocol limit and this they get an
/// error reply.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run(socket, state))
}

async fn run(socket: WebSocket, state: AppState) {
    state.metrics.ws_connections.inc();
    state.metrics.ws_connections_total.inc();
    let mut shutdown = state.shutdown.clone();
    let metrics = state.metrics.clone();
    let (mut sink, mut stream) = socket.split();
    let mut session = Session::new(state);
    // Generous for signaling (trickle ICE bursts), tight enough that a flood cannot starve
    // the media task of requests.
    let limiter = RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN)),
    );
    let send = |msg: ServerMessage| {
        if let ServerMessage::Error { code, .. } = &msg {
            let label = serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            metrics.ws_errors_total.with_label_values(&[&label]).inc();
        }
        metrics.ws_messages_total.with_label_values(&["out"]).inc();
        let text = serde_json::to_string(&msg).unwrap_or_default();
        Message::Text(Utf8Bytes::from(text))
    };
    loop {
        let event = async {
            match session.events.as_mut() {
                Some(events) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        let chat_event = async {
            match session.chat_events.as_mut() {
                Some(events) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = stream.next() => {
                let reply = match frame {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Text(text))) => {
                        metrics.ws_messages_total.with_label_values(&["in"]).inc();
                        if limiter.check().is_err() {
                            // Every request gets its one reply, a refusal included.
                            let reply_to = serde_json::from_str::<serde_json::Value>(text.as_str())
                                .ok()
                                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned));
                            ServerMessage::Error {
                                reply_to,
                                code: ErrorCode::RateLimited,
                                message: "too many messages; slow down".into(),
                            }
                        } else {
                            session.handle_text(text.as_str()).await
                        }
                    }
                    Some(Ok(Message::Binary(_))) => ServerMessage::Error {
                        reply_to: None,
                        code: ErrorCode::BadJson,
                        message: "binary frames are not supported; send JSON text".into(),
                    },
                    Some(Ok(_)) => continue, // ping/pong are answered by the library
                };
                if sink.send(send(reply)).await.is_err() {
                    break;
                }
            }
            event = event => {
                let Some(event) = event else {
                    session.events = None;
                    continue;
                };
                if let Some(message) = session.event_message(event) {
                    let goodbye = matches!(message, ServerMessage::Goodbye { .. });
                    if sink.send(send(message)).await.is_err() || goodbye {
                        // Removed from the room: the media session is over, and so is this
                        // connection (the client decides whether to come back).
                        let _ = sink.send(Message::Close(Some(CloseFrame {
                            code: 1000,
                            reason: Utf8Bytes::from_static("removed"),
                        }))).await;
                        break;
                    }
                }
            }
            chat_event = chat_event => {
                let Some(text) = chat_event else {
                    // The fan-out cut this device off: it fell behind. The client reconnects
                    // and syncs, so nothing is lost.
                    let _ = sink.send(send(ServerMessage::Error {
                        reply_to: None,
                        code: ErrorCode::ResyncRequired,
                        message: "too many events queued for this connection; reconnect and chat_sync".into(),
                    })).await;
                    break;
                };
                metrics.ws_messages_total.with_label_values(&["out"]).inc();
                if sink.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
            _ = async { let _ = shutdown.wait_for(|draining| *draining).await; } => {
                let _ = sink.send(send(ServerMessage::Goodbye { reason: "server_shutdown".into() })).await;
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: 1001,
                        reason: Utf8Bytes::from_static("server shutting down"),
                    })))
                    .await;
                break;
            }
        }
    }
    session.close().await;
    metrics.ws_connections.dec();
}
