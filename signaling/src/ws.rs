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
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
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

/// What the loop does after one input.
enum Flow {
    Continue,
    /// Ended on purpose (a close handshake, a goodbye, a refusal): the session ends.
    Close,
    /// The socket was lost (broken, silent, or not taking writes): a session in a room is
    /// kept for a resume (`session/resume.rs`).
    Lost,
    /// A resume on another socket takes the session.
    HandOver(crate::session::Handover),
}

/// One WebSocket's write half and state; the loop in [`run`] feeds it what arrives.
struct Connection {
    sink: SplitSink<WebSocket, Message>,
    session: Session,
    metrics: crate::metrics::Metrics,
    limiter: DefaultDirectRateLimiter,
    idle_timeout: Duration,
    last_inbound: Instant,
    pinged: bool,
}

async fn run(socket: WebSocket, state: AppState) {
    state.metrics.ws_connections.inc();
    state.metrics.ws_connections_total.inc();
    let mut shutdown = state.shutdown.clone();
    let stopping = state.shutdown.clone();
    // Made once, not per loop turn: registering with the watch channel on every event costs.
    let shutting_down = async move {
        let _ = shutdown.wait_for(|draining| *draining).await;
    };
    tokio::pin!(shutting_down);
    let (sink, mut stream) = socket.split();
    let idle_timeout = state.config.ws_idle_timeout;
    let mut conn = Connection {
        sink,
        metrics: state.metrics.clone(),
        session: Session::new(state.clone()),
        // Generous for signaling (trickle ICE bursts), tight enough that a flood cannot
        // starve the media task of requests.
        limiter: RateLimiter::direct(
            Quota::per_second(NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN)),
        ),
        idle_timeout,
        last_inbound: Instant::now(),
        pinged: false,
    };
    let hello_deadline = Instant::now() + HELLO_TIMEOUT;
    let mut liveness = tokio::time::interval(idle_timeout / 6);
    loop {
        let authenticated = conn.session.is_authenticated();
        let hello_due = async move {
            if authenticated {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep_until(hello_deadline).await;
        };
        let event = async {
            match conn.session.events.as_mut() {
                Some(events) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        let chat_event = async {
            match conn.session.chat_events.as_mut() {
                Some(events) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        let relayed = async {
            match conn.session.remote.as_mut() {
                Some(remote) => remote.events.recv().await,
                None => std::future::pending().await,
            }
        };
        let handoff = async {
            match conn.session.handoff.as_mut() {
                Some(asked) => asked.await.ok(),
                None => std::future::pending().await,
            }
        };
        let flow = tokio::select! {
            frame = stream.next() => conn.frame(frame).await,
            () = hello_due => conn.hello_overdue().await,
            _ = liveness.tick() => conn.liveness().await,
            // The media plane closes every event queue once the listener has stopped: a
            // session that sees that first still ends for the shutdown, not as too slow.
            event = event => match event {
                None if *stopping.borrow() => conn.shutdown().await,
                event => conn.media_event(event).await,
            },
            chat_event = chat_event => conn.chat_event(chat_event).await,
            relayed = relayed => conn.relayed_event(relayed).await,
            asked = handoff => match asked {
                Some(handover) => Flow::HandOver(handover),
                None => {
                    conn.session.handoff = None;
                    Flow::Continue
                }
            },
            () = &mut shutting_down => conn.shutdown().await,
        };
        match flow {
            Flow::Continue => {}
            Flow::Close => {
                conn.session.close().await;
                break;
            }
            Flow::Lost => {
                let parked = std::sync::Arc::clone(&state.parked);
                parked.park(conn.session, state.config.resume_window).await;
                break;
            }
            Flow::HandOver(handover) => {
                let mut session = std::mem::replace(&mut conn.session, Session::new(state));
                session.handoff = None;
                // Refused only if the resume gave up waiting: then the session ends here.
                if let Err(mut session) = handover.send(session) {
                    session.close().await;
                }
                close(
                    &mut conn.sink,
                    1000,
                    "session resumed on another connection",
                )
                .await;
                break;
            }
        }
    }
    conn.metrics.ws_connections.dec();
}

impl Connection {
    /// Serializes a reply or event, counting it (and errors by code).
    fn message(&self, msg: &ServerMessage) -> Message {
        if let ServerMessage::Error { code, .. } = msg {
            let label = serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            self.metrics
                .ws_errors_total
                .with_label_values(&[&label])
                .inc();
        }
        self.metrics
            .ws_messages_total
            .with_label_values(&["out"])
            .inc();
        Message::Text(Utf8Bytes::from(
            serde_json::to_string(msg).unwrap_or_default(),
        ))
    }

    /// Writes `msg`; `Close` when the connection is gone or the client stopped reading.
    async fn reply(&mut self, msg: ServerMessage) -> Flow {
        let message = self.message(&msg);
        if write(&mut self.sink, message).await {
            Flow::Continue
        } else {
            Flow::Lost
        }
    }

    /// Writes a reply or event already serialized (by the room's node).
    async fn reply_text(&mut self, text: String) -> Flow {
        self.metrics
            .ws_messages_total
            .with_label_values(&["out"])
            .inc();
        if write(&mut self.sink, Message::Text(Utf8Bytes::from(text))).await {
            Flow::Continue
        } else {
            Flow::Lost
        }
    }

    /// The room's events fell a queue behind: goodbye (`too_slow`), then close.
    async fn too_slow(&mut self) -> Flow {
        let goodbye = ServerMessage::Goodbye {
            reason: "too_slow".into(),
        };
        let _ = self.reply(goodbye).await;
        close(&mut self.sink, 1008, "too slow").await;
        Flow::Close
    }

    /// An event from this socket's room on another node; `None`: the link fell behind.
    async fn relayed_event(&mut self, event: Option<crate::cluster::RelayedEvent>) -> Flow {
        let Some(event) = event else {
            self.session.drop_remote();
            return self.too_slow().await;
        };
        let flow = self.reply_text(event.text).await;
        if !event.goodbye {
            return flow;
        }
        // The session there ended (removed, the room or its node gone): so does this
        // connection, as for a local room; the client decides whether to come back.
        self.session.drop_remote();
        if matches!(flow, Flow::Continue) {
            close(&mut self.sink, 1000, "room ended on its node").await;
        }
        Flow::Close
    }

    /// A frame from the client (or the end of the stream).
    async fn frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Flow {
        self.last_inbound = Instant::now();
        self.pinged = false;
        let data = matches!(frame, Some(Ok(Message::Text(_) | Message::Binary(_))));
        if data && self.limiter.check().is_err() {
            // Every request gets its one reply, a refusal included.
            let reply_to = match &frame {
                Some(Ok(Message::Text(text))) => {
                    serde_json::from_str::<serde_json::Value>(text.as_str())
                        .ok()
                        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
                }
                _ => None,
            };
            let refusal = ServerMessage::Error {
                reply_to,
                code: ErrorCode::RateLimited,
                message: "too many messages; slow down".into(),
            };
            return self.reply(refusal).await;
        }
        let reply = match frame {
            None | Some(Err(_)) => return Flow::Lost,
            Some(Ok(Message::Close(_))) => {
                // Complete the closing handshake (the library queued our Close reply).
                let _ = tokio::time::timeout(WRITE_TIMEOUT, self.sink.close()).await;
                return Flow::Close;
            }
            Some(Ok(Message::Text(text))) => {
                self.metrics
                    .ws_messages_total
                    .with_label_values(&["in"])
                    .inc();
                // Boxed: a request's state is allocated while it runs, not carried in every
                // idle connection's task.
                match Box::pin(self.session.handle_frame(text.as_str())).await {
                    crate::session::Reply::Message(reply) => *reply,
                    crate::session::Reply::Relayed(text) => return self.reply_text(text).await,
                }
            }
            Some(Ok(Message::Binary(_))) => ServerMessage::Error {
                reply_to: None,
                code: ErrorCode::BadJson,
                message: "binary frames are not supported; send JSON text".into(),
            },
            Some(Ok(_)) => return Flow::Continue, // ping/pong are answered by the library
        };
        self.reply(reply).await
    }

    async fn hello_overdue(&mut self) -> Flow {
        let refusal = ServerMessage::Error {
            reply_to: None,
            code: ErrorCode::NotAuthenticated,
            message: format!("no hello within {} s", HELLO_TIMEOUT.as_secs()),
        };
        let _ = self.reply(refusal).await;
        close(&mut self.sink, 1008, "no hello").await;
        Flow::Close
    }

    /// Pings a connection silent for a third of the idle timeout; closes one silent for all of it.
    async fn liveness(&mut self) -> Flow {
        let silent = self.last_inbound.elapsed();
        if silent >= self.idle_timeout {
            close(&mut self.sink, 1001, "idle").await;
            return Flow::Lost;
        }
        if silent >= self.idle_timeout / 3 && !self.pinged {
            self.pinged = true;
            if !write(&mut self.sink, Message::Ping(Default::default())).await {
                return Flow::Lost;
            }
        }
        Flow::Continue
    }

    /// The server is stopping: goodbye, then close.
    async fn shutdown(&mut self) -> Flow {
        // With several nodes the rooms go on elsewhere: the client joins again.
        let reason = match self.session.clustered() {
            true => "migrate",
            false => "server_shutdown",
        };
        let goodbye = ServerMessage::Goodbye {
            reason: reason.into(),
        };
        let _ = self.reply(goodbye).await;
        close(&mut self.sink, 1001, "server shutting down").await;
        Flow::Close
    }

    /// A media event for the joined participant; `None`: the media plane cut this session off.
    async fn media_event(&mut self, event: Option<sfu::SfuEvent>) -> Flow {
        let Some(event) = event else {
            self.session.events = None;
            if self.session.in_room() {
                // It fell more than a queue of events behind. Its participant is gone; the
                // client may rejoin.
                return self.too_slow().await;
            }
            return Flow::Continue;
        };
        let Some(message) = self.session.event_message(event) else {
            return Flow::Continue;
        };
        let goodbye = matches!(message, ServerMessage::Goodbye { .. });
        let flow = self.reply(message).await;
        if !matches!(flow, Flow::Continue) {
            return if goodbye { Flow::Close } else { flow };
        }
        if goodbye {
            // Removed from the room: the media session is over, and so is this connection
            // (the client decides whether to come back).
            close(&mut self.sink, 1000, "removed").await;
            return Flow::Close;
        }
        Flow::Continue
    }

    /// A chat event (already serialized); `None`: the fan-out cut this device off.
    async fn chat_event(&mut self, event: Option<Utf8Bytes>) -> Flow {
        let Some(text) = event else {
            // It fell behind. The client reconnects and syncs, so nothing is lost.
            let _ = self
                .reply(ServerMessage::Error {
                    reply_to: None,
                    code: ErrorCode::ResyncRequired,
                    message: "too many events queued for this connection; reconnect and chat_sync"
                        .into(),
                })
                .await;
            return Flow::Close;
        };
        let queued = self.session.chat_events.as_mut();
        if write_events(&mut self.sink, text, queued, &self.metrics).await {
            Flow::Continue
        } else {
            Flow::Lost
        }
    }
}
