//! How a client's packets travel to and from the node: over the shared UDP port, or over one
//! of the TCP connections of the ICE-TCP port (RFC 6544), each between an advertised local
//! address and the client's address. A connection's ICE path is one flow; the core keys its
//! routes by flow, so a UDP and a TCP flow between the same two addresses never mix.

use rtc::shared::{TransportContext, TransportProtocol};
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub transport: Transport,
    /// The advertised address (a host candidate) the packets use on the node's side.
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl Flow {
    pub fn udp(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            local,
            peer,
        }
    }

    pub fn tcp(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            transport: Transport::Tcp,
            local,
            peer,
        }
    }

    pub(crate) fn of(context: &TransportContext) -> Self {
        let transport = match context.transport_protocol {
            TransportProtocol::TCP => Transport::Tcp,
            _ => Transport::Udp,
        };
        Self {
            transport,
            local: context.local_addr,
            peer: context.peer_addr,
        }
    }

    pub(crate) fn context(&self) -> TransportContext {
        TransportContext {
            local_addr: self.local,
            peer_addr: self.peer,
            ecn: None,
            transport_protocol: match self.transport {
                Transport::Udp => TransportProtocol::UDP,
                Transport::Tcp => TransportProtocol::TCP,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_survives_the_round_trip_through_a_transport_context() {
        let (local, peer) = (
            "192.0.2.1:7881".parse().unwrap(),
            "198.51.100.7:50000".parse().unwrap(),
        );
        for flow in [Flow::udp(local, peer), Flow::tcp(local, peer)] {
            assert_eq!(Flow::of(&flow.context()), flow);
        }
    }
}
