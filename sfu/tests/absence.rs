//! What must stop, on virtual time: once a participant leaves, nothing of theirs reaches the
//! others while everyone else's media keeps flowing; while a moderator mutes a track, nothing of
//! it is forwarded, and it flows again (from a keyframe) once unmuted. The real server's tests
//! check only the wiring around these (who is told what); the absences are proven here, where
//! "nothing more arrives" covers a whole simulated second without sleeping.

#[path = "../benches/harness/mod.rs"]
mod harness;

use harness::{vp8_packet, Net};
use rtc::rtp_transceiver::RTCRtpSenderId;
use sfu::input::{ForceMute, Leave};
use sfu::SfuEvent;
use std::collections::BTreeMap;
use std::time::Duration;

struct Publisher {
    index: usize,
    sender: RTCRtpSenderId,
    ssrc: u32,
    seq: u16,
}

/// One round (33 ms of virtual time): every publisher still in sends one frame (a keyframe
/// every 30th round).
fn round(net: &mut Net, publishers: &mut [Publisher], round: u32) {
    for p in publishers.iter_mut() {
        let packet = vp8_packet(p.ssrc, 96, p.seq, round * 3000, round.is_multiple_of(30));
        p.seq = p.seq.wrapping_add(1);
        for (from, datagram) in net.publisher_datagrams(p.index, p.sender, packet) {
            net.deliver(from, datagram);
        }
    }
    net.advance(Duration::from_millis(33));
}

/// Packets subscriber `index` received so far, per forwarded stream (rewritten SSRC).
fn per_stream(net: &Net, index: usize) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for packet in &net.clients[index].received {
        *counts.entry(packet.header.ssrc).or_default() += 1;
    }
    counts
}

fn publisher(net: &mut Net, index: usize) -> Publisher {
    let (sender, ssrc) = net.publish_video(index);
    Publisher {
        index,
        sender,
        ssrc,
        seq: 1000,
    }
}

#[test]
fn nothing_of_a_participant_who_left_is_forwarded_and_the_rest_flows() {
    let mut net = Net::new();
    let stays = net.join_as("r", "stays", true, false);
    let leaves = net.join_as("r", "leaves", true, false);
    let watcher = net.join_as("r", "watcher", false, true);
    let mut publishers = vec![publisher(&mut net, stays), publisher(&mut net, leaves)];
    net.connect_all(Duration::from_secs(10));
    for n in 0..90 {
        round(&mut net, &mut publishers, n);
    }
    let before = per_stream(&net, watcher);
    assert_eq!(
        before.len(),
        2,
        "both publishers reach the watcher: {before:?}"
    );
    let leaver = net.clients[leaves].sid.clone();
    net.core.handle(net.now, Leave { sid: leaver }).unwrap();
    // The leaver's client keeps sending a whole second: the server has no route for it.
    for n in 90..120 {
        round(&mut net, &mut publishers, n);
    }
    let after = per_stream(&net, watcher);
    let grown: Vec<u32> = after
        .iter()
        .filter(|(ssrc, count)| before.get(ssrc).is_some_and(|b| *count > b))
        .map(|(ssrc, _)| *ssrc)
        .collect();
    assert_eq!(
        grown.len(),
        1,
        "one stream still flows, the leaver's stopped: {before:?} -> {after:?}"
    );
    assert!(
        after[&grown[0]] >= before[&grown[0]] + 29,
        "{before:?} -> {after:?}"
    );
}

#[test]
fn a_force_muted_track_is_not_forwarded_until_unmuted() {
    let mut net = Net::new();
    let speaker = net.join_as("r", "speaker", true, false);
    let listener = net.join_as("r", "listener", false, true);
    let mut publishers = vec![publisher(&mut net, speaker)];
    net.connect_all(Duration::from_secs(10));
    for n in 0..90 {
        round(&mut net, &mut publishers, n);
    }
    let track = net.published_track();
    let flowing = net.clients[listener].received.len();
    assert!(flowing >= 59, "from the keyframe at 30 on: {flowing}");
    let mute = |muted| ForceMute {
        track: track.clone(),
        muted,
    };
    net.core.handle(net.now, mute(true)).unwrap();
    for n in 90..150 {
        round(&mut net, &mut publishers, n);
    }
    assert_eq!(
        net.clients[listener].received.len(),
        flowing,
        "nothing forwarded while muted"
    );
    assert!(
        net.events
            .iter()
            .any(|(_, e)| matches!(e, SfuEvent::TrackMuted { muted: true, .. })),
        "the room is told"
    );
    net.core.handle(net.now, mute(false)).unwrap();
    for n in 150..210 {
        round(&mut net, &mut publishers, n);
    }
    let resumed = &net.clients[listener].received[flowing..];
    assert!(resumed.len() >= 30, "flows again: {}", resumed.len());
    assert_eq!(resumed[0].payload[1] & 0x01, 0, "resumes at a keyframe");
    for pair in net.clients[listener].received.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number.wrapping_add(1),
            "no gap in the forwarded sequence across the mute"
        );
    }
}
