//! The WebSocket loop: reads frames into the [`Session`], writes its replies and media events,
//! and says goodbye on shutdown. Frames up to 1 MiB are read (so an oversized message gets a
//! `message_too_large` reply instead of a dropped connection); larger frames close the socket.
//!
//! Nothing a client does holds the connection forever: `hello` must come within
//! [`HELLO_TIMEOUT`]; a connection silent for a third of the idle timeout is pinged and one
//! silent for the whole of it is closed; every data frame, binary too, counts against the rate
//! limit; a write that does not complete within [`WRITE_TIMEOUT`] (a client that stopped
//! reading) closes the connection. A client's Close frame is answered before the TCP close.

use crate::protocol::{ErrorCode, ServerMessage};
use crate::session::Session;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;
use tokio::time::Instant;

/// A connection that has not said `hello` by then is closed.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A write (reply or event) that takes longer means the client stopped reading.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes one frame; `false` when the connection is gone or the client stopped reading.
async fn write(sink: &mut SplitSink<WebSocket, Message>, message: Message) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// Writes a chat event and the ones queued behind it (up to [`EVENT_BATCH`]) with one flush;
/// `false` when the connection is gone or the client stopped reading.
async fn write_events(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Utf8Bytes,
    mut queued: Option<&mut crate::fanout::DeviceEvents>,
    metrics: &crate::metrics::Metrics,
) -> bool {
    let batch = async {
        sink.feed(Message::Text(first)).await?;
        let mut written: u64 = 1;
        while written < EVENT_BATCH as u64 {
            let Some(next) = queued.as_mut().and_then(|q| q.try_recv()) else {
                break;
            };
            sink.feed(Message::Text(next)).await?;
            written += 1;
        }
        metrics
            .ws_messages_total
            .with_label_values(&["out"])
            .inc_by(written);
        sink.flush().await
    };
    matches!(tokio::time::timeout(WRITE_TIMEOUT, batch).await, Ok(Ok(())))
}

/// Closes with `code` and `reason` (policy violations: 1008).
async fn close(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = write(sink, Message::Close(Some(frame))).await;
}

/// Frames above this close the connection; between the protocol limit and this they get an
/// error reply.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// The read buffer a connection keeps (the library's default is 128 KiB, eagerly allocated,
/// per connection); requests are a few hundred bytes, and a larger frame is read into a buffer
/// of its own size.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Frames written together are gathered up to this before they go to the socket.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// The kernel's send buffer for a WebSocket: events for a client that stopped reading wait in
/// the device's bounded queue, where the server notices, not in megabytes of socket buffer.
const SOCKET_SEND_BUFFER_BYTES: usize = 128 * 1024;
/// Chat events already queued for a device go out in one write, up to this many.
const EVENT_BATCH: usize = 64;

/// Opens the WebSocket, for a browser page only if it is same-origin or listed in
/// `--allowed-origins` (403 `origin_not_allowed` otherwise: another site's page must not drive
/// a visitor's session).
pub async fn upgrade(
    ws: WebSocketUpgrade,
    headers: axum::http::HeaderMap,
    send_buffer: Option<axum::Extension<crate::listener::SendBufferRequest>>,
    State(state): State<AppState>,
) -> Response {
    use axum::response::IntoResponse;
    if !crate::browser_policy::websocket_origin_allowed(&headers, &state.config.allowed_origins) {
        return crate::http::ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this page's origin may not open Parley's WebSocket (see --allowed-origins)",
        )
        .into_response();
    }
    if let Some(axum::Extension(send_buffer)) = send_buffer {
        send_buffer.request(SOCKET_SEND_BUFFER_BYTES);
    }
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| run(socket, state))
}

async fn run(socket: WebSocket, state: AppState) {
    state.metrics.ws_connections.inc();
    state.metrics.ws_connections_total.inc();
    let mut shutdown = state.shutdown.clone();
    // Made once, not per loop turn: registering with the watch channel on every event costs.
    let shutting_down = async move {
        let _ = shutdown.wait_for(|draining| *draining).await;
    };
    tokio::pin!(shutting_down);
    let metrics = state.metrics.clone();
    let (mut sink, mut stream) = socket.split();
    let idle_timeout = state.config.ws_idle_timeout;
    let mut session = Session::new(state);
    let hello_deadline = Instant::now() + HELLO_TIMEOUT;
    let mut last_inbound = Instant::now();
    let mut pinged = false;
    let mut liveness = tokio::time::interval(idle_timeout / 6);
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
        let authenticated = session.is_authenticated();
        let hello_due = async move {
            if authenticated {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep_until(hello_deadline).await;
        };
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
                last_inbound = Instant::now();
                pinged = false;
                let data = matches!(frame, Some(Ok(Message::Text(_) | Message::Binary(_))));
                if data && limiter.check().is_err() {
                    // Every request gets its one reply, a refusal included.
                    let reply_to = match &frame {
                        Some(Ok(Message::Text(text))) => serde_json::from_str::<serde_json::Value>(text.as_str())
                            .ok()
                            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned)),
                        _ => None,
                    };
                    let refusal = ServerMessage::Error {
                        reply_to,
                        code: ErrorCode::RateLimited,
                        message: "too many messages; slow down".into(),
                    };
                    if !write(&mut sink, send(refusal)).await {
                        break;
                    }
                    continue;
                }
                let reply = match frame {
                    None | Some(Err(_)) => break,
                    Some(Ok(Message::Close(_))) => {
                        // Complete the closing handshake (the library queued our Close reply).
                        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
                        break;
                    }
                    Some(Ok(Message::Text(text))) => {
                        metrics.ws_messages_total.with_label_values(&["in"]).inc();
                        // Boxed: a request's state is allocated while it runs, not carried in
                        // every idle connection's task.
                        Box::pin(session.handle_text(text.as_str())).await
                    }
                    Some(Ok(Message::Binary(_))) => ServerMessage::Error {
                        reply_to: None,
                        code: ErrorCode::BadJson,
                        message: "binary frames are not supported; send JSON text".into(),
                    },
                    Some(Ok(_)) => continue, // ping/pong are answered by the library
                };
                if !write(&mut sink, send(reply)).await {
                    break;
                }
            }
            _ = hello_due => {
                let refusal = ServerMessage::Error {
                    reply_to: None,
                    code: ErrorCode::NotAuthenticated,
                    message: format!("no hello within {} s", HELLO_TIMEOUT.as_secs()),
                };
                let _ = write(&mut sink, send(refusal)).await;
                close(&mut sink, 1008, "no hello").await;
                break;
            }
            _ = liveness.tick() => {
                let silent = last_inbound.elapsed();
                if silent >= idle_timeout {
                    close(&mut sink, 1001, "idle").await;
                    break;
                }
                if silent >= idle_timeout / 3 && !pinged {
                    pinged = true;
                    if !write(&mut sink, Message::Ping(Default::default())).await {
                        break;
                    }
                }
            }
            event = event => {
                let Some(event) = event else {
                    session.events = None;
                    if session.in_room() {
                        // The media plane cut this session off: it fell more than a queue of
                        // events behind. Its participant is gone; the client may rejoin.
                        let _ = write(&mut sink, send(ServerMessage::Goodbye { reason: "too_slow".into() })).await;
                        close(&mut sink, 1008, "too slow").await;
                        break;
                    }
                    continue;
                };
                if let Some(message) = session.event_message(event) {
                    let goodbye = matches!(message, ServerMessage::Goodbye { .. });
                    if !write(&mut sink, send(message)).await || goodbye {
                        // Removed from the room: the media session is over, and so is this
                        // connection (the client decides whether to come back).
                        close(&mut sink, 1000, "removed").await;
                        break;
                    }
                }
            }
            chat_event = chat_event => {
                let Some(text) = chat_event else {
                    // The fan-out cut this device off: it fell behind. The client reconnects
                    // and syncs, so nothing is lost.
                    let _ = write(&mut sink, send(ServerMessage::Error {
                        reply_to: None,
                        code: ErrorCode::ResyncRequired,
                        message: "too many events queued for this connection; reconnect and chat_sync".into(),
                    })).await;
                    break;
                };
                let queued = session.chat_events.as_mut();
                if !write_events(&mut sink, text, queued, &metrics).await {
                    break;
                }
            }
            () = &mut shutting_down => {
                let _ = write(&mut sink, send(ServerMessage::Goodbye { reason: "server_shutdown".into() })).await;
                close(&mut sink, 1001, "server shutting down").await;
                break;
            }
        }
    }
    session.close().await;
    metrics.ws_connections.dec();
}
