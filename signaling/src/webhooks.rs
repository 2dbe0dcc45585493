//! Webhooks: rooms starting and finishing, people joining and leaving, missed calls and new
//! messages, POSTed as JSON to the configured URL (HTTPS; plain HTTP only with
//! `--webhook-allow-http`). Each delivery is signed with HMAC-SHA256 under the webhook's own
//! secret (`--webhook-secret`, never the token secret) over `<timestamp>.<body>`:
//! `X-Parley-Timestamp: <unix seconds>` and `X-Parley-Signature: sha256=<hex>`, so a receiver
//! can tell it came from this server and refuse replays older than a few minutes. Delivery never
//! blocks media or chat: events go into a bounded queue (a full queue drops the event and counts
//! it) and one task sends them in order, retrying a failed delivery with backoff, so a room's
//! events arrive in the order they happened.

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

/// The signature header's value for `body` sent at `timestamp` (Unix seconds) under `secret`:
/// HMAC-SHA256 of `<timestamp>.<body>`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot fail.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Where webhooks go and how they are signed.
#[derive(Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: Vec<u8>,
    /// PEM certificates trusted besides the public roots (a private CA or a test receiver).
    pub extra_roots: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &crate::config::redact_url(&self.url))
            .field("secret", &"<set>")
            .field("extra_roots", &self.extra_roots)
            .finish()
    }
}

fn client(target: &WebhookTarget) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &target.extra_roots {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string())? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| e.to_string())
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
        target: WebhookTarget,
        metrics: crate::metrics::Metrics,
        mut shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<WebhookEvent>(QUEUE);
        let task_metrics = metrics.clone();
        tokio::spawn(async move {
            let client = match client(&target) {
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
                let delivered = deliver(&client, &target, &event, &mut shutdown).await;
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
    target: &WebhookTarget,
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
    let mut wait = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        // Signed per attempt: a retry is a fresh delivery with a fresh timestamp.
        let timestamp = crate::messaging::now_ms().max(0) as u64 / 1000;
        let sent = client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("x-parley-timestamp", timestamp)
            .header("x-parley-signature", sign(&target.secret, timestamp, &body))
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
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The MAC of the joined bytes, computed directly.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1700000000.{\"event\":\"room_started\"}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            sign(b"Jefe", 1_700_000_000, br#"{"event":"room_started"}"#),
            expected
        );
        assert_ne!(
            sign(b"Jefe", 1_700_000_001, br#"{"event":"room_started"}"#),
            expected,
            "another timestamp is another signature"
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
