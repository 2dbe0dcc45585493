//! The one thing the media plane reads from a client's ICE candidates: which addresses are a
//! TURN server's relays, so a connection whose path is one of them is counted as relayed
//! (`parley_peer_connections_by_transport`). Candidates arrive trickled (`a=candidate` values
//! without the `a=`) or inside an SDP; anything malformed is simply not a relay. An ICE-lite
//! server sees only the relay's address, so a client that signals no candidates (browsers
//! always do) is counted as direct.

use std::net::{IpAddr, SocketAddr};

/// The relay address of a `typ relay` candidate (`candidate:<foundation> <component>
/// <transport> <priority> <address> <port> typ relay …`), else `None`.
pub fn relay_address(candidate: &str) -> Option<SocketAddr> {
    let body = candidate.trim().trim_start_matches("a=");
    let mut fields = body.strip_prefix("candidate:")?.split_whitespace();
    let (_foundation, _component, _transport, _priority) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let ip: IpAddr = fields.next()?.parse().ok()?;
    let port: u16 = fields.next()?.parse().ok()?;
    (fields.next()? == "typ" && fields.next()? == "relay").then_some(SocketAddr::new(ip, port))
}

/// The relay addresses among an SDP's `a=candidate` lines.
pub fn relay_addresses_in_sdp(sdp: &str) -> impl Iterator<Item = SocketAddr> + '_ {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .filter_map(relay_address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_found_in_trickled_and_sdp_candidates() {
        #[rustfmt::skip]
        let cases: [(&str, Option<&str>); 8] = [
            ("candidate:1 1 udp 41885439 203.0.113.7 49170 typ relay raddr 198.51.100.2 rport 54321 generation 0", Some("203.0.113.7:49170")),
            ("a=candidate:2 1 udp 16777215 10.0.0.9 3478 typ relay raddr 0.0.0.0 rport 0",                   Some("10.0.0.9:3478")),
            ("candidate:3 1 udp 8331263 2001:db8::5 50000 typ relay raddr :: rport 0",                          Some("[2001:db8::5]:50000")),
            ("candidate:4 1 udp 2122260223 192.168.1.4 56143 typ host generation 0",                            None),
            ("candidate:5 1 udp 1686052607 198.51.100.2 56143 typ srflx raddr 192.168.1.4 rport 56143",        None),
            ("candidate:6 1 tcp 1518280447 192.168.1.4 9 typ host tcptype active",                              None),
            ("candidate:7 1 udp 1 not-an-ip 1 typ relay",                                                       None),
            ("garbage",                                                                                         None),
        ];
        for (candidate, want) in cases {
            let want = want.map(|a| a.parse::<SocketAddr>().unwrap());
            assert_eq!(relay_address(candidate), want, "{candidate}");
        }
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
            a=candidate:1 1 udp 41885439 203.0.113.7 49170 typ relay raddr 0.0.0.0 rport 0\r\n\
            a=candidate:4 1 udp 2122260223 192.168.1.4 56143 typ host\r\n";
        assert_eq!(
            relay_addresses_in_sdp(sdp).collect::<Vec<_>>(),
            vec!["203.0.113.7:49170".parse::<SocketAddr>().unwrap()]
        );
    }
}
