//! A light subscriber's signaling: the same WebSocket protocol as every client (hello, join),
//! then the server's subscriber offers and candidates, which go to the worker holding the
//! subscriber's connection, and the answers back.

use super::subscriber::Subscriber;
use super::worker::WorkerHandle;
use super::{Counters, LightError, LightPool, LightTransport, Snapshot};
use crate::client::candidate_init;
use crate::signal::Signaling;
use signaling::protocol::{ClientMessage, PeerTarget, ServerMessage};
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// A joined light subscriber. Dropping it closes its connection and its WebSocket.
pub struct LightSubscriber {
    signaling: Arc<Signaling>,
    counters: Arc<Counters>,
    worker: WorkerHandle,
    slot: usize,
}

impl LightSubscriber {
    /// Connects to `ws_url`, authenticates with `token` and joins `room`; the server's
    /// subscriber offers are answered from then on.
    pub async fn join(
        pool: &LightPool,
        ws_url: &str,
        token: &str,
        room: &str,
    ) -> Result<Self, LightError> {
        let worker = pool.pick();
        let counters = Arc::new(Counters::default());
        let subscriber = match pool.transport {
            LightTransport::Udp => {
                let socket = UdpSocket::bind((pool.local_ip, 0))?;
                Subscriber::new(socket, counters.clone(), Instant::now())?
            }
            LightTransport::Tcp => {
                Subscriber::new_tcp(pool.local_ip, counters.clone(), Instant::now())?
            }
        };
        let slot = worker.add(subscriber).await?;
        match signal(&worker, slot, &counters, ws_url, token, room).await {
            Ok(signaling) => Ok(Self {
                signaling,
                counters,
                worker,
                slot,
            }),
            Err(err) => {
                worker.remove(slot);
                Err(err)
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.counters.snapshot()
    }
}

impl Drop for LightSubscriber {
    fn drop(&mut self) {
        self.worker.remove(self.slot);
        self.signaling.close();
    }
}

async fn signal(
    worker: &WorkerHandle,
    slot: usize,
    counters: &Arc<Counters>,
    ws_url: &str,
    token: &str,
    room: &str,
) -> Result<Arc<Signaling>, LightError> {
    let (signaling, events) = Signaling::connect(ws_url).await?;
    let signaling = Arc::new(signaling);
    signaling.hello(token).await?;
    tokio::spawn(event_loop(
        events,
        signaling.clone(),
        worker.clone(),
        slot,
        counters.clone(),
    ));
    let reply = signaling
        .request(|id| ClientMessage::Join {
            id,
            room: room.to_owned(),
            token: None,
        })
        .await?;
    match reply {
        ServerMessage::Joined { .. } => Ok(signaling),
        other => Err(LightError::Unexpected(format!("{other:?}"))),
    }
}

/// Answers subscriber offers and passes on candidates until the WebSocket closes.
async fn event_loop(
    mut events: mpsc::UnboundedReceiver<ServerMessage>,
    signaling: Arc<Signaling>,
    worker: WorkerHandle,
    slot: usize,
    counters: Arc<Counters>,
) {
    while let Some(event) = events.recv().await {
        match event {
            ServerMessage::SubscribeOffer { sdp } => {
                let answered = match worker.offer(slot, sdp).await {
                    Ok(sdp) => signaling
                        .request(|id| ClientMessage::SubscribeAnswer { id, sdp })
                        .await
                        .map_err(LightError::from),
                    Err(err) => Err(err),
                };
                match answered {
                    Ok(_) => {
                        counters.offers_answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => tracing::warn!(%err, "light subscriber: could not answer an offer"),
                }
            }
            ServerMessage::IceCandidate {
                target: PeerTarget::Subscriber,
                candidate,
            } => worker.candidate(slot, candidate_init(candidate)),
            _ => {}
        }
    }
}
