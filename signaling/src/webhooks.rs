//! Webhooks: rooms starting and finishing, people joining and leaving, missed calls and new
//! messages, POSTed as JSON to the configured URL. Each body is signed with HMAC-SHA256 under
//! the server's API secret (`X-Parley-Signature: sha256=<hex>`), so the receiver can tell it
//! came from this server. Delivery never blocks media or chat: events go into a bounded queue
//! (a full queue drops the event and counts it) and one task sends them in order, retrying a
//! failed delivery with backoff, so a room's events arrive in the order they happened.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Events waiting for delivery before new ones are dropped.
const QUEUE: usize = 10_000;
/// Attempts per event, and the wait before the first retry (doubling after each).
const ATTEMPTS: u32 = 6;
const FIRST_RETRY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WebhookEvent {
    RoomStarted {
        room: String,
    },
    RoomFinished {
        room: String,
    },
    ParticipantJoined {
        room: String,
        identity: String,
        sid: String,
    },
    ParticipantLeft {
        room: String,
        identity: String,
        sid: String,
    },
    CallMissed {
        conversation: String,
        invitation: String,
        caller: String,
    },
    MessageCreated {
        conversation: String,
        message: String,
        seq: i64,
        sender: Option<String>,
    },
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: String,
    created_at: i64,
    #[serde(flatten)]
    event: &'a WebhookEvent,
}

/// The signature header's value for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot fail.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone, Default)]
pub struct Webhooks {
    queue: Option<mpsc::Sender<WebhookEvent>>,
    metrics: Option<crate::metrics::Metrics>,
}

impl Webhooks {
    /// No URL: events are discarded.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Starts the delivery task; it stops at shutdown (pending events are dropped then).
    pub fn spawn(
        url: String,
        secret: Vec<u8>,
        metrics: crate::metrics::Metrics,
        mut shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<WebhookEvent>(QUEUE);
        let task_metrics = metrics.clone();
        tokio::spawn(async move {
            let client = match reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
            {
                Ok(client) => client,
                Err(err) => {
                    tracing::error!(%err, "webhooks disabled: no HTTP client");
                    return;
                }
            };
            loop {
                let event = tokio::select! {
                    event = rx.recv() => event,
                    _ = shutdown.wait_for(|draining| *draining) => None,
                };
                let Some(event) = event else {
                    return;
                };
                let delivered = deliver(&client, &url, &secret, &event, &mut shutdown).await;
                let outcome = if delivered { "delivered" } else { "failed" };
                task_metrics
                    .webhooks_total
                    .with_label_values(&[outcome])
                    .inc();
            }
        });
        Self {
            queue: Some(tx),
            metrics: Some(metrics),
        }
    }

    pub fn send(&self, event: WebhookEvent) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(event).is_err() {
            tracing::warn!("webhook queue full: event dropped");
            if let Some(metrics) = &self.metrics {
                metrics.webhooks_total.with_label_values(&["dropped"]).inc();
            }
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    secret: &[u8],
    event: &WebhookEvent,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let envelope = Envelope {
        id: uuid::Uuid::new_v4().to_string(),
        created_at: crate::messaging::now_ms(),
        event,
    };
    let Ok(body) = serde_json::to_vec(&envelope) else {
        return false;
    };
    let signature = sign(secret, &body);
    let mut wait = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-parley-signature", &signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => {
                tracing::warn!(status = %response.status(), attempt, "webhook refused")
            }
            Err(err) => tracing::warn!(%err, attempt, "webhook delivery failed"),
        }
        if attempt < ATTEMPTS {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|draining| *draining) => return false,
            }
            wait *= 2;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn events_are_tagged_snake_case() {
        let json = serde_json::to_value(WebhookEvent::RoomStarted { room: "r".into() }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "room_started", "room": "r"})
        );
    }
}
