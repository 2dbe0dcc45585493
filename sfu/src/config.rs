//! What the media plane needs to know about its network; signaling fills it from the
//! operator's configuration.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The one UDP port every peer connection shares (0 picks a free one, for tests).
    pub udp_port: u16,
    /// The ICE-TCP port (RFC 6544 passive candidates beside the UDP ones, for networks that
    /// block UDP); `None`: ICE-TCP off. 0 picks a free port (tests).
    pub tcp_port: Option<u16>,
    /// Addresses advertised as host candidates. Without `udp_bind_ip`, one socket is bound per
    /// address, so the address a datagram arrived on is known exactly.
    pub public_ips: Vec<IpAddr>,
    /// Behind 1:1 NAT: bind this local address and advertise `public_ips[0]` for it.
    pub udp_bind_ip: Option<IpAddr>,
    /// Destinations the server may send to; empty means any. Tests pin this to loopback.
    pub peer_allowlist: Vec<IpNet>,
    pub keyframe_request_interval: Duration,
    /// A peer connection that has not connected (ICE + DTLS) this long after it was created is
    /// given up: its participant is removed (`connect_timeout`).
    pub connect_timeout: Duration,
    /// What one server, room and identity may hold.
    pub limits: Limits,
    /// Media workers (threads, each with its own rooms); 0 means one per available core.
    pub workers: usize,
    /// Participants of one room a worker takes before the room spreads to another worker
    /// (`node::Placement`); 0: every room stays on one worker.
    pub room_spread_at: usize,
}

impl SfuConfig {
    /// Media workers to start: `workers`, or one per core the process may run on.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// Caps on what clients can make the media plane hold; past one, a join or a new peer
/// connection is refused with [`crate::SfuError::Capacity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Peer connections on the whole server.
    pub peer_connections: usize,
    /// Peer connections of one room's participants (each has up to three: publisher, screen,
    /// subscriber; a WHEP viewer one).
    pub peer_connections_per_room: usize,
    /// Participants (WebSocket joins, WHIP publishers, WHEP viewers) with the same identity.
    pub sessions_per_identity: usize,
    /// Connections open on the ICE-TCP port (past it, new ones are closed at once).
    pub tcp_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            peer_connections: 10_000,
            peer_connections_per_room: 1_000,
            sessions_per_identity: 8,
            tcp_connections: 10_000,
        }
    }
}

/// A worker takes this many participants of one room before the room spreads: a one-core
/// share of a broadcast (a 2.5 Mbit/s camera and audio is ~300 packets/s per subscriber, so 100
/// subscribers ~30k packets/s), while meetings of everyday size stay on one worker.
pub const DEFAULT_ROOM_SPREAD_AT: usize = 100;

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            udp_port: 7882,
            tcp_port: None,
            public_ips: vec![IpAddr::from([127, 0, 0, 1])],
            udp_bind_ip: None,
            peer_allowlist: Vec::new(),
            keyframe_request_interval: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(25),
            limits: Limits::default(),
            workers: 0,
            room_spread_at: DEFAULT_ROOM_SPREAD_AT,
        }
    }
}

/// An address prefix such as `127.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("not an IP address: {s}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length in {s}"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipnet_parse_and_contains_table() {
        let cases = [
            ("127.0.0.0/8", "127.1.2.3", true),
            ("127.0.0.0/8", "10.0.0.1", false),
            ("10.1.2.3", "10.1.2.3", true),
            ("10.1.2.3", "10.1.2.4", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("::1/128", "::1", true),
            ("::1", "127.0.0.1", false),
            ("fd00::/8", "fd12::1", true),
        ];
        for (net, ip, expected) in cases {
            let net: IpNet = net.parse().unwrap();
            assert_eq!(net.contains(ip.parse().unwrap()), expected, "{net:?} {ip}");
        }
        for bad in ["", "1.2.3", "1.2.3.4/33", "::/129", "x/8"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }
}
