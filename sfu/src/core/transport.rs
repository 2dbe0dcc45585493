//! Which way each connection's media travels: straight over UDP, over ICE-TCP, or through a
//! TURN relay (the path the client nominated is one of its `typ relay` candidates). Counted
//! node-wide every allocation tick into `SfuStats::peer_connections_{udp,tcp,relay}`.

use super::*;

/// Relay addresses remembered per connection at most (a client has one or two per TURN server).
const MAX_RELAYS: usize = 8;
/// Validated flows routed to one connection at most. A browser checks from each of its
/// candidates (host addresses, server-reflexive, relays: a handful) and from new ones when its
/// network changes; a client sending valid checks from ever new ports gets its oldest flows
/// forgotten instead of growing the routing tables.
pub(super) const MAX_FLOWS: usize = 16;
/// ICE ufrags claimed for one connection at most: its current one and those of the ICE
/// generations before the last few restarts (Binding requests naming an old one still reach the
/// connection, which refuses them; an ICE-TCP connection bound to one stays open).
pub(super) const MAX_UFRAGS: usize = 4;

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
    /// After a local description was set on connection `id`: its ICE ufrag (the first, or a
    /// new one after an ICE restart) is claimed on the node, so Binding requests naming it
    /// reach this core. Fails if another connection of the node has it (16 random letters:
    /// never in practice).
    pub(super) fn adopt_local_ufrag(&mut self, id: PeerId) -> Result<(), SfuError> {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Ok(());
        };
        let ufrag = peer
            .pc
            .local_description()
            .and_then(|d| crate::sdp::ice_ufrag(&d.sdp).map(str::to_owned))
            .ok_or_else(|| SfuError::Internal("local description without an ICE ufrag".into()))?;
        if peer.ufrags.last() == Some(&ufrag) {
            return Ok(());
        }
        if !self.node.demux.claim_ufrag(&ufrag, self.worker) {
            return Err(SfuError::Internal(
                "ICE ufrag already in use on the node".into(),
            ));
        }
        self.by_ufrag.insert(ufrag.clone(), id);
        peer.ufrags.push(ufrag);
        if peer.ufrags.len() > MAX_UFRAGS {
            let old = peer.ufrags.remove(0);
            self.by_ufrag.remove(&old);
            self.node.demux.release_ufrag(&old);
        }
        Ok(())
    }

    /// The connection answered a check over `flow` (so it passed MESSAGE-INTEGRITY): packets
    /// over it are the connection's from now on. Past [`MAX_FLOWS`] the oldest flow that is not
    /// the connection's path is forgotten.
    pub(super) fn learn_flow(&mut self, id: PeerId, peer: &mut Peer, flow: Flow) {
        let std::collections::hash_map::Entry::Vacant(entry) = self.by_addr.entry(flow) else {
            return;
        };
        entry.insert(id);
        // An ICE-TCP connection is its own route to this worker.
        if flow.transport == Transport::Udp {
            self.node
                .demux
                .claim_pair((flow.local, flow.peer), self.worker);
        }
        peer.flows.push_back(flow);
        if peer.flows.len() > MAX_FLOWS {
            let oldest = peer.flows.iter().position(|f| Some(*f) != peer.path);
            if let Some(old) = oldest.and_then(|i| peer.flows.remove(i)) {
                self.forget_flows(id, &[old]);
            }
        }
    }

    /// Removes `flows` of connection `id` from the routing tables (those still its own).
    pub(super) fn forget_flows(&mut self, id: PeerId, flows: &[Flow]) {
        for flow in flows {
            if self.by_addr.get(flow) == Some(&id) {
                self.by_addr.remove(flow);
            }
        }
        let pairs: Vec<_> = flows
            .iter()
            .filter(|f| f.transport == Transport::Udp)
            .map(|f| (f.local, f.peer))
            .collect();
        self.node.demux.release_pairs(&pairs, self.worker);
    }

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
