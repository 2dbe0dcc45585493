//! A WebSocket client for Parley's signaling protocol v1, built on the server's own protocol
//! types: requests get ids and await their one reply; events go to a channel.

use futures_util::{SinkExt, StreamExt};
use signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("connection closed")]
    Closed,
    #[error("no reply within the timeout")]
    Timeout,
    #[error("server refused ({code:?}): {message}")]
    Refused { code: ErrorCode, message: String },
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<ServerMessage>>>>;

pub struct Signaling {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Signaling {
    /// Connects to `ws://host:port/ws`; events (messages without `reply_to`) arrive on the
    /// returned channel, which closes when the socket does.
    pub async fn connect(
        url: &str,
    ) -> Result<(Self, mpsc::UnboundedReceiver<ServerMessage>), SignalError> {
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        let (mut sink, mut stream) = socket.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        tokio::spawn(async move {
            while let Some(message) = out_rx.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let replies = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(message) = serde_json::from_str::<ServerMessage>(text.as_str()) else {
                    tracing::warn!(%text, "unparseable server message");
                    continue;
                };
                let Some(reply_to) = reply_to(&message) else {
                    if event_tx.send(message).is_err() {
                        break;
                    }
                    continue;
                };
                let waiter = replies.lock().ok().and_then(|mut p| p.remove(&reply_to));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(message);
                }
            }
            // Dropping the waiters wakes every pending request with `Closed`.
            if let Ok(mut pending) = replies.lock() {
                pending.clear();
            }
        });
        Ok((
            Self {
                out: out_tx,
                pending,
                next_id: AtomicU64::new(1),
            },
            event_rx,
        ))
    }

    /// Authenticates with `token` (protocol version 1); the reply is the `welcome`.
    pub async fn hello(&self, token: &str) -> Result<ServerMessage, SignalError> {
        self.request(|id| ClientMessage::Hello {
            id,
            version: 1,
            token: token.to_owned(),
            resume: None,
        })
        .await
    }

    /// Sends a request and waits for its reply; an `error` reply becomes `Err(Refused)`.
    pub async fn request(
        &self,
        make: impl FnOnce(String) -> ClientMessage,
    ) -> Result<ServerMessage, SignalError> {
        let id = format!("r{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id.clone(), tx);
        }
        let text = serde_json::to_string(&make(id)).map_err(|_| SignalError::Closed)?;
        self.out
            .send(Message::Text(text.into()))
            .map_err(|_| SignalError::Closed)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Err(_) => Err(SignalError::Timeout),
            Ok(Err(_)) => Err(SignalError::Closed),
            Ok(Ok(ServerMessage::Error { code, message, .. })) => {
                Err(SignalError::Refused { code, message })
            }
            Ok(Ok(reply)) => Ok(reply),
        }
    }

    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

fn reply_to(message: &ServerMessage) -> Option<String> {
    message.reply_to().map(str::to_owned)
}
