//! Resuming a session on a new socket, so a client whose network changed continues the same
//! session (`hello.resume`) instead of joining again: same participant, same peer connections
//! (the client restarts their ICE), same tracks and subscriptions.
//!
//! A session in a room has a resume token (32 random alphanumerics, works once, bound to the
//! identity that joined, never logged), entered in [`Parked`]:
//! - while its socket is open, as *attached*: a resume takes the session from that socket (the
//!   client usually notices a dead network first: the server may not for a minute), which
//!   closes;
//! - after its socket ended without a close handshake (the stream broke, a write timed out,
//!   the client fell silent), as *parked* for the resume window: the participant stays in the
//!   room and its media events stay queued (a queue that overflows ends it as `too_slow`,
//!   which the client learns on resuming); when the window passes it leaves the room as a
//!   closed socket would. A client that closes or leaves is gone at once.

use super::Session;
use crate::protocol::{ErrorCode, Resumed};
use sfu::input::RoomPeople;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a resume waits for the socket that has the session to hand it over.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the socket holding a session to give it up: the session is sent back on this.
pub type Handover = oneshot::Sender<Session>;

enum Held {
    /// On an open socket, which gives it up when asked.
    Attached(oneshot::Sender<Handover>),
    /// Its socket is gone; waiting for the client until the window passes.
    Parked(Box<Session>),
}

struct Entry {
    identity: String,
    held: Held,
}

/// Every resumable session of the node by resume token.
#[derive(Default)]
pub struct Parked(Mutex<HashMap<String, Entry>>);

impl Parked {
    /// Keeps `session`, whose socket was lost, for `window` under its resume token; after that
    /// it closes (leaves the room). A session that cannot be resumed is closed now.
    pub async fn park(self: &Arc<Self>, mut session: Session, window: Duration) {
        let token = match session.resume_token.clone() {
            Some(token) if session.resumable() && !window.is_zero() => token,
            _ => return session.close().await,
        };
        let Some(identity) = session.joined.as_ref().map(|j| j.identity.clone()) else {
            return session.close().await;
        };
        if let Some(joined) = &session.joined {
            tracing::info!(room = %joined.room, participant = %joined.sid, window_secs = window.as_secs(), "socket lost: session kept for a resume");
        }
        // A resume may be asking this socket for the session right now: it learns the socket
        // is gone when this is dropped, which is after the session is parked where it looks.
        let asked = session.handoff.take();
        let metrics = session.state.metrics.clone();
        let held = Held::Parked(Box::new(session));
        self.lock().insert(token.clone(), Entry { identity, held });
        drop(asked);
        metrics
            .session_resumes_total
            .with_label_values(&["parked"])
            .inc();
        let parked = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            let expired = {
                let mut map = parked.lock();
                match map.get(&token).map(|e| &e.held) {
                    Some(Held::Parked(_)) => map.remove(&token),
                    _ => None,
                }
            };
            if let Some(Entry {
                held: Held::Parked(mut session),
                ..
            }) = expired
            {
                metrics
                    .session_resumes_total
                    .with_label_values(&["expired"])
                    .inc();
                session.close().await;
            }
        });
    }

    /// Enters a session's new token as attached to its socket; the receiver fires when a
    /// resume wants the session.
    fn attach(&self, token: &str, identity: &str) -> oneshot::Receiver<Handover> {
        let (tx, rx) = oneshot::channel();
        let entry = Entry {
            identity: identity.to_owned(),
            held: Held::Attached(tx),
        };
        self.lock().insert(token.to_owned(), entry);
        rx
    }

    /// The session's token stops working (it left the room, or its socket closed on purpose).
    pub(super) fn forget(&self, token: &str) {
        self.lock().remove(token);
    }

    /// The session `token` names for `identity`, taken from wherever it is. A socket asked to
    /// hand its session over may be ending at that very moment (lost): it parks the session
    /// under the same token instead, so the map is looked at once more.
    async fn take(&self, token: &str, identity: &str) -> Option<Session> {
        for _ in 0..2 {
            let entry = {
                let mut map = self.lock();
                if map.get(token)?.identity != identity {
                    return None;
                }
                map.remove(token)?
            };
            match entry.held {
                Held::Parked(session) => return Some(*session),
                Held::Attached(ask) => {
                    let (tx, rx) = oneshot::channel();
                    if ask.send(tx).is_ok() {
                        if let Ok(Ok(session)) = tokio::time::timeout(HANDOVER_TIMEOUT, rx).await {
                            return Some(session);
                        }
                    }
                    // The socket went away without handing over: it parked the session.
                }
            }
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Each use is one insert or remove: a panic elsewhere cannot leave it half-changed.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Session {
    /// In a room with its media events still flowing: worth keeping after the socket is lost.
    pub fn resumable(&self) -> bool {
        self.joined.is_some() && self.events.is_some()
    }

    /// Gives the session a new resume token (after a join or a resume), entered as attached
    /// to this socket; `None` when the server keeps no session after its socket.
    pub(super) fn issue_resume_token(&mut self) -> Option<String> {
        if let Some(old) = self.resume_token.take() {
            self.state.parked.forget(&old);
        }
        self.handoff = None;
        let identity = self.joined.as_ref()?.identity.clone();
        // Held for another node's socket: that node has no way to resume it here.
        if self.state.config.resume_window.is_zero() || self.relayed {
            return None;
        }
        use rand::distr::{Alphanumeric, SampleString};
        let token = Alphanumeric.sample_string(&mut rand::rng(), 32);
        self.handoff = Some(self.state.parked.attach(&token, &identity));
        self.resume_token = Some(token.clone());
        Some(token)
    }

    /// `hello.resume`: continues the session `token` names if `identity` owns it. Returns what
    /// `welcome.resumed` says, or `None` (a new session starts as usual).
    pub(super) async fn resume(
        &mut self,
        token: &str,
        identity: &str,
    ) -> Result<Option<Resumed>, (ErrorCode, String)> {
        let parked = Arc::clone(&self.state.parked);
        let Some(mut session) = parked.take(token, identity).await else {
            return Ok(None);
        };
        session.resume_token = None;
        let Some((room, sid)) = session
            .joined
            .as_ref()
            .map(|j| (j.room.clone(), j.sid.clone()))
        else {
            return Ok(None);
        };
        let people = match self
            .state
            .sfu
            .request(RoomPeople { room: room.clone() })
            .await
        {
            Ok(people) => people,
            Err(err) => {
                session.close().await;
                return Err(super::sfu_error(err));
            }
        };
        let visible = people
            .iter()
            .filter(|p| !p.meta.hidden || p.meta.sid == sid);
        let (you, others): (Vec<_>, Vec<_>) = visible.partition(|p| p.meta.sid == sid);
        let Some(you) = you.first().map(|p| super::participant_info(p)) else {
            // Removed from the room meanwhile: nothing to continue, a new session starts.
            session.close().await;
            return Ok(None);
        };
        tracing::info!(room = %room, participant = %sid, "session resumed on a new socket");
        self.state
            .metrics
            .session_resumes_total
            .with_label_values(&["resumed"])
            .inc();
        *self = session;
        let resume_token = self.issue_resume_token().unwrap_or_default();
        Ok(Some(Resumed {
            room,
            you,
            participants: others.into_iter().map(super::participant_info).collect(),
            resume_token,
            ice_servers: self.ice_servers(),
        }))
    }
}
