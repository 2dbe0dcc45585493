//! What the media workers of one node share (`driver` runs one [`crate::SfuCore`] per worker
//! thread): the [`Demux`] table that sends each datagram from the shared UDP port to the worker
//! owning its connection, the node-wide limits (peer connections, sessions per identity), and
//! the [`Placement`] of rooms on workers. Everything here is behind short locks or atomics;
//! nothing on a worker waits for another worker.

mod demux;
mod placement;

pub use demux::Demux;
pub use placement::{Placement, Seat, WorkerLoad};

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

    /// Counts a session of `identity` if it has fewer than `limit`; false (nothing counted) if
    /// not. One lock for both, so concurrent joins on several workers cannot overshoot.
    pub(crate) fn try_start_session(&self, identity: &str, limit: usize) -> bool {
        let mut identities = self.identities();
        let count = identities.entry(identity.to_owned()).or_default();
        if *count >= limit {
            if *count == 0 {
                identities.remove(identity);
            }
            return false;
        }
        *count += 1;
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_sessions_of_one_identity_never_pass_the_limit() {
        let node = std::sync::Arc::new(Node::default());
        let started: usize = std::thread::scope(|scope| {
            let joins: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| node.try_start_session("ana", 3)))
                .collect();
            joins
                .into_iter()
                .map(|j| usize::from(j.join().unwrap()))
                .sum()
        });
        assert_eq!(started, 3);
        assert_eq!(node.sessions_of("ana"), 3);
        node.session_ended("ana");
        assert!(
            node.try_start_session("ana", 3),
            "a place freed is taken again"
        );
        assert!(!node.try_start_session("bob", 0));
        assert_eq!(node.sessions_of("bob"), 0, "a refusal counts nothing");
        assert!(
            node.identities().get("bob").is_none(),
            "nor leaves an entry"
        );
    }
}
