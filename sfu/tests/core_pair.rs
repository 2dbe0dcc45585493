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
    for round in 0..300u32 {
        let key = round.is_multiple_of(30);
        for (from, datagram) in
            net.publisher_datagrams(publisher, sender, vp8_packet(ssrc, 96, seq, ts, key))
        {
            net.deliver(from, datagram);
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(3000);
        net.advance(Duration::from_millis(33));
    }
    for index in subscribers {
        let received = &net.clients[index].received;
        assert!(
            received.len() > 200,
            "subscriber {index} got {} packets",
            received.len()
        );
        for pair in received.windows(2) {
            assert_eq!(
                pair[1].header.sequence_number,
                pair[0].header.sequence_number.wrapping_add(1)
            );
            assert_eq!(
                pair[1].header.timestamp,
                pair[0].header.timestamp.wrapping_add(3000)
            );
        }
        assert_eq!(received[0].payload[1] & 0x01, 0, "starts at a keyframe");
        assert!(received.iter().all(|p| p.payload.len() == 1000));
    }
    assert!(net.clients[publisher].received.is_empty(), "no echo");
}

/// Sends `rounds` video packets (a keyframe every 30) from `publisher`, advancing 33 ms each;
/// `drop_to_server(seq)` / `drop_to_subscriber(seq)` lose chosen packets on either leg.
fn stream(
    net: &mut Net,
    publisher: usize,
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    ssrc: u32,
    rounds: u16,
    drop_to_server: impl Fn(u16) -> bool,
) {
    for round in 0..rounds {
        let seq = 1000 + round;
        let packet = vp8_packet(
            ssrc,
            96,
            seq,
            90_000 + u32::from(round) * 3000,
            round.is_multiple_of(30),
        );
        for (from, datagram) in net.publisher_datagrams(publisher, sender, packet) {
            if drop_to_server(seq) {
                continue;
            }
            net.deliver(from, datagram);
        }
        net.advance(Duration::from_millis(33));
    }
}

fn assert_contiguous(received: &[rtc::rtp::Packet]) {
    let mut seqs: Vec<u16> = received.iter().map(|p| p.header.sequence_number).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert!(seqs.len() > 150, "{} packets", seqs.len());
    for pair in seqs.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "a hole in what the subscriber ended up with"
        );
    }
}

#[test]
fn loss_on_the_publisher_leg_is_repaired_by_nack() {
    let mut net = Net::new();
    let publisher = net.join("r", "pub", true);
    let subscriber = net.join("r", "sub", true);
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(10));
    stream(&mut net, publisher, sender, ssrc, 40, |_| false);
    net.connect_all(Duration::from_secs(10));
    // Lose every 7th packet on the way in: the server's NACKs get them resent by the publisher.
    let lost = |seq: u16| seq > 1045 && seq.is_multiple_of(7);
    stream(&mut net, publisher, sender, ssrc, 200, lost);
    for _ in 0..20 {
        net.advance(Duration::from_millis(50));
    }
    assert_contiguous(&net.clients[subscriber].received);
}

#[test]
fn loss_on_the_subscriber_leg_is_answered_from_the_server_cache() {
    let mut net = Net::new();
    let publisher = net.join("r", "pub", true);
    let subscriber = net.join("r", "sub", true);
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(10));
    stream(&mut net, publisher, sender, ssrc, 40, |_| false);
    net.connect_all(Duration::from_secs(10));
    let sub_addr = net.clients[subscriber].addr;
    let mut count = 0u32;
    // Lose every 5th datagram the server sends the subscriber; the subscriber's NACKs are
    // answered from the subscriber leg's send history.
    net.drop_to = Some(Box::new(move |peer, _| {
        count += 1;
        peer == sub_addr && count.is_multiple_of(5)
    }));
    stream(&mut net, publisher, sender, ssrc, 200, |_| false);
    net.drop_to = None;
    for _ in 0..20 {
        net.advance(Duration::from_millis(50));
    }
    assert!(net.dropped > 0);
    assert_contiguous(&net.clients[subscriber].received);
}
