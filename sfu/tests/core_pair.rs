//! The Sans-I/O core against real webrtc-rs client connections over an in-memory network:
//! ICE, DTLS-SRTP, negotiation and forwarding, with virtual time and no sockets.

#[path = "../benches/harness/mod.rs"]
mod harness;

use harness::{vp8_packet, Net};
use std::time::Duration;

#[test]
fn one_publisher_two_subscribers_in_memory() {
    let mut net = Net::new();
    let publisher = net.join("r", "pub", true);
    let subscribers = [net.join("r", "a", true), net.join("r", "b", true)];
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(10));
    // The track opens on its first packet; subscribers then negotiate and connect.
    let mut seq = 1000u16;
    let mut ts = 90_000u32;
    for round in 0..300 {
        let key = round % 30 == 0;
        for (from, datagram) in net.publisher_datagrams(publisher, sender, vp8_packet(ssrc, 96, seq, ts, key)) {
            let server = net.server;
            let now = net.now;
            net.core.handle_datagram(now, server, from, datagram);
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(3000);
        net.advance(Duration::from_millis(33));
    }
    for index in subscribers {
        let received = &net.clients[index].received;
        assert!(received.len() > 200, "subscriber {index} got {} packets", received.len());
        for pair in received.windows(2) {
            assert_eq!(pair[1].header.sequence_number, pair[0].header.sequence_number.wrapping_add(1));
            assert_eq!(pair[1].header.timestamp, pair[0].header.timestamp.wrapping_add(3000));
        }
        assert_eq!(received[0].payload[1] & 0x01, 0, "starts at a keyframe");
        assert!(received.iter().all(|p| p.payload.len() == 1000));
    }
    assert!(net.clients[publisher].received.is_empty(), "no echo");
}
