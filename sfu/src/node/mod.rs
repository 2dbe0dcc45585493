//! What the media workers of one node share (`driver` runs one [`crate::SfuCore`] per worker
//! thread): the [`Demux`] table that sends each datagram from the shared UDP port to the worker
//! owning its connection, the node-wide limits (peer connections, sessions per identity), and
//! the [`Placement`] of rooms on workers. Everything here is behind short locks or atomics;
//! nothing on a worker waits for another worker.

mod demux;
mod placement;

pub use demux::Demux;
pub use placement::{Placement, WorkerLoad};

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Index of a media worker (and of its core) on the node.
pub type WorkerIndex = usize;

/// The node-wide state every worker's core reads and writes. One per node; a core made with
/// `SfuCore::new` gets its own.
#[derive(Debug, Default)]
pub struct Node {
    pub demux: Demux,
    /// Peer connections open on every worker (`Limits::peer_connections` is per node).
    peer_connections: AtomicUsize,
    /// Participants per identity on every worker (`Limits::sessions_per_identity`).
    identities: Mutex<HashMap<String, usize>>,
}

impl Node {
    pub fn peer_connections(&self) -> usize {
        self.peer_connections.load(Ordering::Relaxed)
    }

    pub(crate) fn peer_opened(&self) {
        self.peer_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn peer_closed(&self) {
        self.peer_connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn sessions_of(&self, identity: &str) -> usize {
        self.identities().get(identity).copied().unwrap_or_default()
    }

    pub(crate) fn session_started(&self, identity: &str) {
        *self.identities().entry(identity.to_owned()).or_default() += 1;
    }

    pub(crate) fn session_ended(&self, identity: &str) {
        let mut identities = self.identities();
        if let Some(count) = identities.get_mut(identity) {
            *count -= 1;
            if *count == 0 {
                identities.remove(identity);
            }
        }
    }

    fn identities(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // Counts stay consistent even if a holder panicked (each update is one statement).
        self.identities.lock().unwrap_or_else(|e| e.into_inner())
    }
}
