//! A connection's routes are bounded: a client that sends valid connectivity checks (right
//! ufrag, right password) from ever new source ports is answered on each, but the core keeps
//! at most `MAX_FLOWS` of its flows, forgetting the oldest, and media keeps flowing on the
//! path the client nominated. On virtual time, with a real `rtc` client.

#[path = "../benches/harness/mod.rs"]
mod harness;

use bytes::BytesMut;
use harness::{stun_check, vp8_packet, Net};
use std::net::SocketAddr;
use std::time::Duration;

/// A valid check from the client of connection `index` to the server.
fn check(net: &Net, index: usize) -> BytesMut {
    let pc = &net.clients[index].pc;
    let server = pc.remote_description().expect("server SDP").sdp.clone();
    let client = pc.local_description().expect("client SDP").sdp.clone();
    stun_check(&server, &client)
}

#[test]
fn checks_from_ever_new_ports_do_not_grow_the_routes() {
    let mut net = Net::new();
    let publisher = net.join_as("ward", "nurse", true, false);
    let subscriber = net.join_as("ward", "patient", false, true);
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(5));
    let before = net.core.validated_flows();
    assert!(before >= 1, "the clients' own paths are routed: {before}");
    for port in 0..200u16 {
        let from = SocketAddr::from(([127, 0, 0, 9], 20_000 + port));
        net.deliver(from, check(&net, publisher));
    }
    let after = net.core.validated_flows();
    assert!(
        after > before,
        "the checks were answered and routed: {after}"
    );
    // MAX_FLOWS (16) of the publisher's connection, and the others' as they were.
    assert!(
        after <= 16 + before,
        "at most MAX_FLOWS per connection: {after}"
    );
    // The publisher's nominated path was never forgotten: its media still reaches the room.
    for n in 0..90u16 {
        let packet = vp8_packet(ssrc, 96, 1000 + n, u32::from(n) * 3000, n % 30 == 0);
        for (from, datagram) in net.publisher_datagrams(publisher, sender, packet) {
            net.deliver(from, datagram);
        }
        net.advance(Duration::from_millis(33));
    }
    let received = net.clients[subscriber].received.len();
    assert!(
        received >= 25,
        "the subscriber got {received} of 30 packets"
    );
}
