//! ICE restarts, on virtual time with real `rtc` clients. The server restarts a subscriber
//! connection with an offer carrying new ICE credentials (the client asked: its network
//! changed); media flows again after the client's answer, a check signed with the old
//! credentials is no longer answered, and an offer lost with a client's old socket is sent
//! again before the restart.

#[path = "../benches/harness/mod.rs"]
mod harness;

use harness::{sdp_attribute, stun_check, stun_check_nominating, vp8_packet, Net};
use rtc::rtp_transceiver::RTCRtpSenderId;
use sfu::input::RestartSubscriberIce;
use sfu::SfuEvent;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A room with one VP8 publisher and one connected subscriber receiving it (its connection is
/// made when the track's first packets arrive; frames 0..60 are sent).
fn room(net: &mut Net) -> (usize, usize, RTCRtpSenderId, u32) {
    let publisher = net.join_as("ward", "nurse", true, false);
    let subscriber = net.join_as("ward", "patient", false, true);
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(5));
    let p = (publisher, subscriber, sender, ssrc);
    pump(net, p, 0, 60);
    net.connect_all(Duration::from_secs(5));
    p
}

/// Sends `frames` one-packet frames from the publisher (a keyframe every 30); returns how many
/// packets the subscriber received meanwhile.
fn pump(net: &mut Net, p: (usize, usize, RTCRtpSenderId, u32), first: u16, frames: u16) -> usize {
    let (publisher, subscriber, sender, ssrc) = p;
    let before = net.clients[subscriber].received.len();
    for n in first..first + frames {
        let packet = vp8_packet(ssrc, 96, n, u32::from(n) * 3000, n % 30 == 0);
        for (from, datagram) in net.publisher_datagrams(publisher, sender, packet) {
            net.deliver(from, datagram);
        }
        net.advance(Duration::from_millis(33));
    }
    net.clients[subscriber].received.len() - before
}

fn server_sdp(net: &Net, index: usize) -> String {
    net.clients[index]
        .pc
        .remote_description()
        .expect("server SDP")
        .sdp
        .clone()
}

/// Whether the core answers `check` from client `index` (a STUN success response goes back).
fn answered(net: &mut Net, index: usize, check: bytes::BytesMut) -> bool {
    let addr = net.clients[index].addr;
    net.deliver(addr, check);
    let mut answered = false;
    while let Some(t) = net.core.poll_transmit() {
        answered |= t.flow.peer == addr && t.payload.first() == Some(&0x01);
    }
    answered
}

#[test]
fn a_restarted_subscriber_connection_has_new_credentials_and_media_again() {
    let mut net = Net::new();
    let p = room(&mut net);
    let subscriber = p.1;
    assert!(pump(&mut net, p, 60, 30) >= 25, "media before the restart");
    let old_server = server_sdp(&net, subscriber);
    let old_client = net.clients[subscriber]
        .pc
        .local_description()
        .unwrap()
        .sdp
        .clone();
    let old_check = stun_check(&old_server, &old_client);
    assert!(
        answered(&mut net, subscriber, old_check.clone()),
        "the old check works before"
    );

    let sid = net.clients[subscriber].sid.clone();
    net.core
        .handle(net.now, RestartSubscriberIce { sid })
        .expect("restart");
    net.settle(); // the harness's client answers the offer (restarting its own agent too)
    let new_server = server_sdp(&net, subscriber);
    for attribute in ["ice-ufrag", "ice-pwd"] {
        assert_ne!(
            sdp_attribute(&new_server, attribute),
            sdp_attribute(&old_server, attribute),
            "the offer restarts ICE: new {attribute}"
        );
    }
    assert_eq!(
        sdp_attribute(&new_server, "fingerprint"),
        sdp_attribute(&old_server, "fingerprint"),
        "DTLS is not restarted"
    );
    let received = pump(&mut net, p, 90, 60);
    assert!(received >= 50, "{received} of 60 packets after the restart");
    assert!(
        !answered(&mut net, subscriber, old_check),
        "a check with the old credentials is refused"
    );
    let new_client = net.clients[subscriber]
        .pc
        .local_description()
        .unwrap()
        .sdp
        .clone();
    assert!(answered(
        &mut net,
        subscriber,
        stun_check(&new_server, &new_client)
    ));
}

#[test]
fn an_unanswered_offer_is_sent_again_before_the_restart() {
    let mut net = Net::new();
    let p = room(&mut net);
    let subscriber = p.1;
    let sid = net.clients[subscriber].sid.clone();
    let restart = |net: &mut Net| {
        let now = net.now;
        net.core
            .handle(now, RestartSubscriberIce { sid: sid.clone() })
            .expect("restart");
    };
    restart(&mut net);
    let lost = take_offer(&mut net, &sid).expect("the restart offer");
    // That offer was lost with the client's old socket; the client asks again.
    restart(&mut net);
    let again = take_offer(&mut net, &sid).expect("the outstanding offer again");
    assert_eq!(again, lost, "the outstanding offer, unchanged");
    net.answer_offer(subscriber, &again);
    let next = take_offer(&mut net, &sid).expect("a restart offer after the answer");
    assert_ne!(
        sdp_attribute(&next, "ice-ufrag"),
        sdp_attribute(&again, "ice-ufrag"),
        "the second request restarts again"
    );
    net.answer_offer(subscriber, &next);
    assert!(pump(&mut net, p, 60, 60) >= 50, "media after both answers");
}

/// The subscriber offer the core emitted for `sid` since the last call, if any (other events
/// are kept in `net.events`).
fn take_offer(net: &mut Net, sid: &sfu::ParticipantSid) -> Option<String> {
    let mut offer = None;
    while let Some((to, event)) = net.core.poll_event() {
        match event {
            SfuEvent::SubscriberOffer { sdp } if &to == sid => offer = Some(sdp),
            event => net.events.push((to, event)),
        }
    }
    offer
}

/// A client that moves to another address (its network changed) and nominates a pair from
/// there: media follows it, and the core asks for keyframes at once, since what went the old
/// way meanwhile was lost: for a subscriber, of the layers it is sent; for a publisher, of its
/// video.
#[test]
fn a_connection_moving_to_another_path_gets_keyframes_asked_for() {
    let mut net = Net::new();
    let p = room(&mut net);
    let (publisher, subscriber) = (p.0, p.1);
    for (index, frames) in [(subscriber, 120u16), (publisher, 200)] {
        pump(&mut net, p, frames, 30); // past the keyframe request interval
        let before = net.core.stats().keyframe_requests.load(Ordering::Relaxed);
        let pc = &net.clients[index].pc;
        let server = pc.remote_description().expect("server SDP").sdp.clone();
        let client = pc.local_description().expect("client SDP").sdp.clone();
        let moved = std::net::SocketAddr::from(([127, 0, 0, 77], 50_000 + index as u16));
        // A check first (a lite agent answers a nomination only on a pair it has answered).
        net.deliver(moved, stun_check(&server, &client));
        net.deliver(moved, stun_check_nominating(&server, &client, true));
        net.settle();
        let after = net.core.stats().keyframe_requests.load(Ordering::Relaxed);
        assert!(
            after > before,
            "client {index}: keyframe requests {before} -> {after}"
        );
    }
}

/// What the server sent into the old path while the network was changing is not repaired
/// afterwards: the subscriber asks for it (NACK), but the keyframe after the move is a restart
/// point, and resending seconds of stale video would only delay that keyframe.
#[test]
fn packets_lost_with_the_old_path_are_not_repaired() {
    let mut net = Net::new();
    let p = room(&mut net);
    let subscriber = p.1;
    pump(&mut net, p, 60, 25);
    let addr = net.clients[subscriber].addr;
    let last_before = net.clients[subscriber]
        .received
        .last()
        .unwrap()
        .header
        .sequence_number;
    // The old path goes dead: nothing reaches the subscriber for 25 frames.
    net.drop_to = Some(Box::new(move |to, _| to == addr));
    pump(&mut net, p, 85, 25);
    net.drop_to = None;
    // It comes back from another address and nominates a pair from there.
    let moved = std::net::SocketAddr::from(([127, 0, 0, 78], 51_000));
    net.clients[subscriber].addr = moved;
    let pc = &net.clients[subscriber].pc;
    let server = pc.remote_description().expect("server SDP").sdp.clone();
    let client = pc.local_description().expect("client SDP").sdp.clone();
    net.deliver(moved, stun_check(&server, &client));
    net.deliver(moved, stun_check_nominating(&server, &client, true));
    net.settle();
    net.clients[subscriber].received.clear();
    // Frames 110.. (a keyframe at 120): media again over the new path.
    let received = pump(&mut net, p, 110, 60);
    assert!(received >= 40, "{received} packets after the move");
    let stale: Vec<u16> = net.clients[subscriber]
        .received
        .iter()
        .map(|r| r.header.sequence_number)
        .filter(|seq| {
            let after_last = seq.wrapping_sub(last_before);
            after_last > 0 && after_last <= 25
        })
        .collect();
    assert!(
        stale.is_empty(),
        "repaired what the old path lost: {stale:?}"
    );
}
