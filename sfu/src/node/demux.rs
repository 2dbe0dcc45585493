//! Which worker a datagram from the shared UDP port belongs to, by the same rule each core
//! applies to pick a connection (`crate::stun::classify`): a Binding request by the local ICE
//! ufrag it is addressed to, everything else by the validated address pair it came over. Cores
//! write the table when they create a connection (its ufrag) and when a connection answers a
//! check from a new address (validated by MESSAGE-INTEGRITY first), and clear it when the
//! connection closes; the receive loop reads it for each batch under one read lock.

use super::WorkerIndex;
use crate::stun;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

type Pair = (SocketAddr, SocketAddr);

#[derive(Debug, Default)]
pub struct Demux {
    table: RwLock<Table>,
}

#[derive(Debug, Default)]
struct Table {
    ufrags: HashMap<String, WorkerIndex>,
    pairs: HashMap<Pair, WorkerIndex>,
}

/// The table held for reading while a batch of datagrams is routed.
pub struct Router<'a>(RwLockReadGuard<'a, Table>);

impl Router<'_> {
    /// The worker owning the connection `datagram` (from `peer`, arrived on `local`) is for;
    /// `None` if no connection claims it (it is dropped and counted).
    pub fn worker_for(
        &self,
        local: SocketAddr,
        peer: SocketAddr,
        datagram: &[u8],
    ) -> Option<WorkerIndex> {
        match stun::classify(datagram) {
            stun::Route::BindingRequest { local_ufrag } => self.0.ufrags.get(local_ufrag).copied(),
            stun::Route::ByAddress => self.0.pairs.get(&(local, peer)).copied(),
        }
    }
}

impl Demux {
    pub fn router(&self) -> Router<'_> {
        Router(self.table.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `ufrag` for `worker`; false if another connection of the node has it already.
    pub(crate) fn claim_ufrag(&self, ufrag: &str, worker: WorkerIndex) -> bool {
        let mut table = self.write();
        if table.ufrags.contains_key(ufrag) {
            return false;
        }
        table.ufrags.insert(ufrag.to_owned(), worker);
        true
    }

    /// Whether a connection of the node still has `ufrag`.
    pub fn has_ufrag(&self, ufrag: &str) -> bool {
        self.router().0.ufrags.contains_key(ufrag)
    }

    pub(crate) fn release_ufrag(&self, ufrag: &str) {
        self.write().ufrags.remove(ufrag);
    }

    /// A connection of `worker` answered a check over `pair`: datagrams over it go there (the
    /// latest claim wins, as a client's address can move to another connection).
    pub(crate) fn claim_pair(&self, pair: Pair, worker: WorkerIndex) {
        self.write().pairs.insert(pair, worker);
    }

    /// Releases the pairs of a closed connection still routed to `worker`.
    pub(crate) fn release_pairs(&self, pairs: &[Pair], worker: WorkerIndex) {
        if pairs.is_empty() {
            return;
        }
        let mut table = self.write();
        for pair in pairs {
            if table.pairs.get(pair) == Some(&worker) {
                table.pairs.remove(pair);
            }
        }
    }

    /// Connections' ufrags and address pairs in the table (for tests and gauges).
    pub fn len(&self) -> (usize, usize) {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        (table.ufrags.len(), table.pairs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attr = Vec::new();
        attr.extend_from_slice(&0x0006u16.to_be_bytes());
        attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attr.extend_from_slice(username.as_bytes());
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        let mut msg = vec![0x00, 0x01];
        msg.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        msg.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attr);
        msg
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn datagrams_find_the_worker_of_their_connection() {
        let demux = Demux::default();
        let local = addr("10.0.0.1:7882");
        assert!(demux.claim_ufrag("aaaa", 0));
        assert!(demux.claim_ufrag("bbbb", 1));
        assert!(
            !demux.claim_ufrag("bbbb", 0),
            "a ufrag belongs to one connection of the node"
        );
        demux.claim_pair((local, addr("1.2.3.4:5000")), 1);
        let rtp = [0x80u8, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        #[rustfmt::skip]
        let cases: [(&str, Vec<u8>, Option<usize>); 6] = [
            ("1.2.3.4:5000", binding_request("aaaa:remote"), Some(0)),
            ("9.9.9.9:1",    binding_request("bbbb:remote"), Some(1)),
            ("1.2.3.4:5000", binding_request("zzzz:remote"), None),
            ("1.2.3.4:5000", rtp.to_vec(),                  Some(1)),
            ("1.2.3.4:5001", rtp.to_vec(),                  None),
            ("1.2.3.4:5000", vec![22, 254, 253],            Some(1)),
        ];
        let router = demux.router();
        for (peer, datagram, want) in cases {
            assert_eq!(
                router.worker_for(local, addr(peer), &datagram),
                want,
                "{peer} {datagram:?}"
            );
        }
    }

    #[test]
    fn a_closed_connection_releases_only_what_is_still_its_own() {
        let demux = Demux::default();
        let local = addr("10.0.0.1:7882");
        let moved = (local, addr("1.2.3.4:5000"));
        let kept = (local, addr("1.2.3.4:5002"));
        demux.claim_pair(moved, 0);
        demux.claim_pair(kept, 0);
        // The client's address moved to a connection on worker 1 before worker 0's closed.
        demux.claim_pair(moved, 1);
        demux.release_pairs(&[moved, kept], 0);
        let router = demux.router();
        assert_eq!(router.worker_for(local, moved.1, &[0x80, 0]), Some(1));
        assert_eq!(router.worker_for(local, kept.1, &[0x80, 0]), None);
        drop(router);
        assert!(demux.claim_ufrag("u", 0));
        demux.release_ufrag("u");
        assert_eq!(demux.len(), (0, 1));
    }
}
