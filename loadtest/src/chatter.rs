//! A chat device: one WebSocket that says hello with a token and then only chats. Every event
//! it receives is kept with its arrival time, for tests (wait for an event) and for the load
//! scenario (send-to-receive latency).

use crate::signal::{SignalError, Signaling};
use signaling::protocol::chat::ChatMessage;
use signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum ChatterError {
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// How often, and after how long, a refused-for-now send is retried.
const RETRIES: u32 = 100;
const RETRY_AFTER: Duration = Duration::from_millis(100);

pub struct Chatter {
    pub identity: String,
    signaling: Signaling,
    events: Arc<Mutex<Vec<(Instant, ServerMessage)>>>,
    changed: watch::Receiver<u64>,
    /// Makes client message ids unique per chatter: this connection's random tag and a counter
    /// (two devices of one person must not resend each other's messages).
    device_tag: u32,
    next_client_id: AtomicU64,
}

impl Chatter {
    pub async fn connect(ws_url: &str, token: &str) -> Result<Self, ChatterError> {
        let (signaling, mut events_rx) = Signaling::connect(ws_url).await?;
        let reply = signaling.hello(token).await?;
        let ServerMessage::Welcome { identity, .. } = reply else {
            return Err(ChatterError::Unexpected(format!("{reply:?}")));
        };
        let events: Arc<Mutex<Vec<(Instant, ServerMessage)>>> = Arc::default();
        let (changed_tx, changed) = watch::channel(0u64);
        let log = events.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Some(event) = events_rx.recv().await {
                if let Ok(mut log) = log.lock() {
                    log.push((Instant::now(), event));
                }
                n += 1;
                let _ = changed_tx.send(n);
            }
            // The socket closed: wake waiters so they can notice.
            let _ = changed_tx.send(u64::MAX);
        });
        Ok(Self {
            identity,
            signaling,
            events,
            changed,
            device_tag: rand::random(),
            next_client_id: AtomicU64::new(1),
        })
    }

    pub async fn request(
        &self,
        make: impl FnOnce(String) -> ClientMessage,
    ) -> Result<ServerMessage, SignalError> {
        self.signaling.request(make).await
    }

    /// A fresh client message id.
    pub fn client_id(&self) -> String {
        format!(
            "{}-{:08x}-{}",
            self.identity,
            self.device_tag,
            self.next_client_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Sends `text` with a fresh client message id; returns the stored message.
    pub async fn send(&self, conversation: &str, text: &str) -> Result<ChatMessage, ChatterError> {
        let client_msg_id = self.client_id();
        self.send_with_id(conversation, &client_msg_id, text)
            .await
            .map(|(message, _)| message)
    }

    /// Sends with a given client message id; returns the message and whether it was a
    /// duplicate of one already stored. Like a well-behaved client, it waits and resends (same
    /// id, so never twice) when told to slow down or to retry.
    pub async fn send_with_id(
        &self,
        conversation: &str,
        client_msg_id: &str,
        text: &str,
    ) -> Result<(ChatMessage, bool), ChatterError> {
        self.send_message(conversation, client_msg_id, text, &[])
            .await
    }

    /// Sends `text` with uploaded attachments (their ids) and a fresh client message id.
    pub async fn send_attachments(
        &self,
        conversation: &str,
        text: &str,
        attachments: &[String],
    ) -> Result<ChatMessage, ChatterError> {
        let client_msg_id = self.client_id();
        self.send_message(conversation, &client_msg_id, text, attachments)
            .await
            .map(|(message, _)| message)
    }

    async fn send_message(
        &self,
        conversation: &str,
        client_msg_id: &str,
        text: &str,
        attachments: &[String],
    ) -> Result<(ChatMessage, bool), ChatterError> {
        let mut attempts = 0;
        let reply = loop {
            let sent = self
                .request(|id| ClientMessage::ChatSend {
                    id,
                    conversation: conversation.to_owned(),
                    client_msg_id: client_msg_id.to_owned(),
                    text: text.to_owned(),
                    attachments: attachments.to_vec(),
                    reply_to: None,
                })
                .await;
            match sent {
                Err(SignalError::Refused {
                    code: ErrorCode::RateLimited | ErrorCode::Unavailable,
                    ..
                }) if attempts < RETRIES => {
                    attempts += 1;
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                other => break other?,
            }
        };
        match reply {
            ServerMessage::ChatAck {
                message, duplicate, ..
            } => Ok((message, duplicate)),
            other => Err(ChatterError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Every event so far, with arrival times.
    pub fn events(&self) -> Vec<(Instant, ServerMessage)> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// New messages received as events, in arrival order.
    pub fn received_messages(&self) -> Vec<ChatMessage> {
        self.events()
            .into_iter()
            .filter_map(|(_, e)| match e {
                ServerMessage::ChatMessage { message } => Some(message),
                _ => None,
            })
            .collect()
    }

    /// Waits until `done` holds for the events received so far.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[ServerMessage]) -> bool,
    ) -> Result<(), ChatterError> {
        let mut changed = self.changed.clone();
        let check = || {
            let events: Vec<ServerMessage> = self.events().into_iter().map(|(_, e)| e).collect();
            done(&events)
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if check() {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                // Closed or timed out: one last look.
                _ => {
                    return if check() {
                        Ok(())
                    } else {
                        Err(ChatterError::Timeout(what.to_owned()))
                    }
                }
            }
        }
    }

    /// Whether the socket has closed (the server hung up, or after `close`).
    pub fn is_closed(&self) -> bool {
        *self.changed.borrow() == u64::MAX
    }

    pub fn close(&self) {
        self.signaling.close();
    }
}
