//! Which way each connection's media travels: straight over UDP, over ICE-TCP, or through a
//! TURN relay (the path the client nominated is one of its `typ relay` candidates). Counted
//! node-wide every allocation tick into `SfuStats::peer_connections_{udp,tcp,relay}`.

use super::*;

/// Relay addresses remembered per connection at most (a client has one or two per TURN server).
const MAX_RELAYS: usize = 8;

impl Peer {
    /// Remembers the client's relay candidates (trickled, or from its SDP).
    pub(super) fn note_relays(&mut self, addresses: impl Iterator<Item = SocketAddr>) {
        for address in addresses {
            if self.relays.len() < MAX_RELAYS && !self.relays.contains(&address) {
                self.relays.push(address);
            }
        }
    }

    /// How the connection's media travels: 0 straight over UDP, 1 over ICE-TCP, 2 through a
    /// TURN relay (whose side toward Parley is UDP).
    fn transport_index(&self) -> usize {
        match self.path {
            Some(path) if path.transport == Transport::Tcp => 1,
            Some(path) if self.relays.contains(&path.peer) => 2,
            _ => 0,
        }
    }
}

impl SfuCore {
    /// Recounts this core's connected connections by transport and moves the node-wide gauges
    /// by the change.
    pub(super) fn count_transports(&mut self) {
        let mut counts = [0u64; 3];
        for peer in self.peers.values().filter(|p| p.connected) {
            counts[peer.transport_index()] += 1;
        }
        let fields = [
            &self.stats.peer_connections_udp,
            &self.stats.peer_connections_tcp,
            &self.stats.peer_connections_relay,
        ];
        SfuStats::shift_all(fields, self.transport_gauges, counts);
        self.transport_gauges = counts;
    }
}
