//! Rooms on several media workers, in memory: each worker is its own core, as the driver runs
//! them, and what one core relays to another (`core/relay.rs`) is handed over as the driver's
//! job queues would. Two rooms on two workers stay apart; one room spread over two workers
//! forwards every packet byte for byte to subscribers on both, repairs a lossy downlink from
//! the subscriber's own worker, switches layers at keyframes with continuous numbering, tells
//! the publisher's worker which layers are needed, and keeps membership whole.

#[path = "../benches/harness/mod.rs"]
mod harness;

use bytes::Bytes;
use harness::{vp8_layer_packet, vp8_packet, Net};
use sfu::input::SetLayerLimit;
use sfu::{LayerLimit, SfuEvent, SfuStats};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A keyframe-every-30 VP8 packet whose payload also carries its own sequence number, so each
/// forwarded payload can be matched to what was sent.
fn numbered_packet(ssrc: u32, seq: u16) -> rtc::rtp::Packet {
    let round = seq.wrapping_sub(1000);
    let mut packet = vp8_packet(
        ssrc,
        96,
        seq,
        90_000 + u32::from(round) * 3000,
        round.is_multiple_of(30),
    );
    let mut payload = packet.payload.to_vec();
    payload[11..13].copy_from_slice(&seq.to_be_bytes());
    payload[13] = (seq % 251) as u8;
    packet.payload = Bytes::from(payload);
    packet
}

/// Sends `rounds` packets from `publisher` starting at sequence number `first`, 33 ms apart;
/// returns what was sent by sequence number.
fn stream(
    net: &mut Net,
    publisher: usize,
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    ssrc: u32,
    first: u16,
    rounds: u16,
) -> HashMap<u16, Bytes> {
    let mut sent = HashMap::new();
    for seq in first..first + rounds {
        let packet = numbered_packet(ssrc, seq);
        sent.insert(seq, packet.payload.clone());
        for (from, datagram) in net.publisher_datagrams(publisher, sender, packet) {
            net.deliver(from, datagram);
        }
        net.advance(Duration::from_millis(33));
    }
    sent
}

/// What `index` received: contiguous sequence numbers (after repairs) and every payload
/// exactly one that was sent, in order.
fn assert_byte_exact(net: &Net, index: usize, sent: &HashMap<u16, Bytes>) -> usize {
    let mut received: Vec<&rtc::rtp::Packet> = net.clients[index].received.iter().collect();
    received.sort_by_key(|p| p.header.sequence_number);
    received.dedup_by_key(|p| p.header.sequence_number);
    assert!(
        received.len() > 150,
        "client {index}: {} packets",
        received.len()
    );
    for pair in received.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number + 1,
            "client {index}: a hole in what it ended up with"
        );
        let (a, b) = (sent_seq(pair[0]), sent_seq(pair[1]));
        assert_eq!(b, a + 1, "client {index}: payloads out of order");
    }
    for packet in &received {
        assert_eq!(
            Some(&packet.payload),
            sent.get(&sent_seq(packet)),
            "client {index}: a payload not as sent"
        );
    }
    received.len()
}

fn sent_seq(packet: &rtc::rtp::Packet) -> u16 {
    u16::from_be_bytes([packet.payload[11], packet.payload[12]])
}

/// Who worker `worker` says is in the lesson.
fn lesson_on(net: &mut Net, worker: usize, now: Instant) -> Vec<sfu::ParticipantSnapshot> {
    let people = sfu::input::RoomPeople {
        room: "lesson".into(),
    };
    net.core_of(worker).handle(now, people).unwrap()
}

fn relayed(net: &mut Net) -> u64 {
    SfuStats::get(&net.core.stats().relayed_packets)
}

#[test]
fn two_rooms_on_two_workers_forward_apart() {
    let mut net = Net::with_workers(2);
    let pub_a = net.join_on(0, "a", "pa", true);
    let sub_a = net.join_on(0, "a", "sa", true);
    let pub_b = net.join_on(1, "b", "pb", true);
    let sub_b = net.join_on(1, "b", "sb", true);
    let (sender_a, ssrc_a) = net.publish_video(pub_a);
    let (sender_b, ssrc_b) = net.publish_video(pub_b);
    net.connect_all(Duration::from_secs(10));
    let sent_a = stream(&mut net, pub_a, sender_a, ssrc_a, 1000, 100);
    let sent_b = stream(&mut net, pub_b, sender_b, ssrc_b, 1000, 100);
    net.connect_all(Duration::from_secs(10));
    let mut sent_a2 = stream(&mut net, pub_a, sender_a, ssrc_a, 1100, 200);
    sent_a2.extend(sent_a);
    let mut sent_b2 = stream(&mut net, pub_b, sender_b, ssrc_b, 1100, 200);
    sent_b2.extend(sent_b);
    assert_byte_exact(&net, sub_a, &sent_a2);
    assert_byte_exact(&net, sub_b, &sent_b2);
    assert_eq!(
        relayed(&mut net),
        0,
        "nothing crosses between unrelated rooms"
    );
    let other_room = |i: usize, j: usize| {
        net.events.iter().any(|(sid, e)| {
            *sid == net.clients[i].sid
                && matches!(e, SfuEvent::ParticipantJoined(p) if p.meta.sid == net.clients[j].sid)
        })
    };
    assert!(!other_room(sub_a, pub_b) && !other_room(sub_b, pub_a));
}

#[test]
fn a_room_spread_over_two_workers_forwards_every_packet_and_repairs_on_each() {
    let mut net = Net::with_workers(2);
    let publisher = net.join_on(0, "lesson", "teacher", true);
    let near = net.join_on(0, "lesson", "near", false);
    let far = net.join_on(1, "lesson", "far", false);
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(10));
    let mut sent = stream(&mut net, publisher, sender, ssrc, 1000, 40);
    net.connect_all(Duration::from_secs(10));
    // Every 5th datagram to the far subscriber is lost: its NACKs are answered by its own
    // worker's connection, from what that worker forwarded of the relayed packets.
    let far_addr = net.clients[far].addr;
    let mut count = 0u32;
    net.drop_to = Some(Box::new(move |peer, _| {
        count += 1;
        peer == far_addr && count.is_multiple_of(5)
    }));
    sent.extend(stream(&mut net, publisher, sender, ssrc, 1040, 200));
    net.drop_to = None;
    for _ in 0..20 {
        net.advance(Duration::from_millis(50));
    }
    assert!(net.dropped > 0);
    let near_count = assert_byte_exact(&net, near, &sent);
    let far_count = assert_byte_exact(&net, far, &sent);
    assert!(
        far_count + 5 >= near_count,
        "far {far_count}, near {near_count}"
    );
    assert!(
        relayed(&mut net) >= 200,
        "the far worker fanned out relayed packets"
    );

    // Everyone knows everyone, whichever worker announced them.
    let sids: Vec<_> = net.clients.iter().map(|c| c.sid.clone()).collect();
    let heard_of = |to: usize, of: usize| {
        net.events.iter().any(|(sid, e)| {
            *sid == sids[to]
                && matches!(e, SfuEvent::ParticipantJoined(p) if p.meta.sid == sids[of])
        })
    };
    assert!(
        heard_of(publisher, far) && heard_of(near, far),
        "worker 0 learns of far"
    );
    let track_seen_far = net.events.iter().any(|(sid, e)| {
        *sid == sids[far] && matches!(e, SfuEvent::TrackPublished(t) if t.owner == sids[publisher])
    });
    assert!(track_seen_far, "far hears of the teacher's track");
    let stats = net.core.stats().clone();
    assert_eq!(
        SfuStats::get(&stats.participants),
        3,
        "each participant counted once"
    );
    assert_eq!(SfuStats::get(&stats.rooms), 1, "the room counted once");
    assert_eq!(SfuStats::get(&stats.published_tracks), 1);

    // The far subscriber leaves: worker 0 tells its own; the teacher leaves: far's worker
    // ends the track and says so.
    let now = net.now;
    let leave = sfu::input::Leave {
        sid: sids[far].clone(),
    };
    net.core_of(1).handle(now, leave).unwrap();
    net.settle();
    let left = |to: usize, who: usize, net: &Net| {
        net.events.iter().any(|(sid, e)| {
            *sid == sids[to] && matches!(e, SfuEvent::ParticipantLeft(p) if *p == sids[who])
        })
    };
    assert!(left(near, far, &net) && left(publisher, far, &net));
    assert_eq!(SfuStats::get(&stats.participants), 2);
}

#[test]
fn the_publishers_leaving_reaches_the_other_worker() {
    let mut net = Net::with_workers(2);
    let publisher = net.join_on(0, "lesson", "teacher", true);
    let far = net.join_on(1, "lesson", "far", false);
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(10));
    stream(&mut net, publisher, sender, ssrc, 1000, 40);
    let now = net.now;
    let teacher = net.clients[publisher].sid.clone();
    net.core
        .handle(
            now,
            sfu::input::Leave {
                sid: teacher.clone(),
            },
        )
        .unwrap();
    net.settle();
    let far_sid = net.clients[far].sid.clone();
    let heard =
        |f: &dyn Fn(&SfuEvent) -> bool| net.events.iter().any(|(sid, e)| *sid == far_sid && f(e));
    assert!(heard(
        &|e| matches!(e, SfuEvent::TrackUnpublished { owner, .. } if *owner == teacher)
    ));
    assert!(heard(
        &|e| matches!(e, SfuEvent::ParticipantLeft(p) if *p == teacher)
    ));
    let people = lesson_on(&mut net, 1, now);
    assert_eq!(people.len(), 1, "only far is left: {people:?}");
}

/// A 3-layer simulcast publisher on worker 0 and a subscriber on worker 1.
#[test]
fn a_layer_switch_across_workers_is_seamless_and_dynacast_hears_the_demand() {
    let mut net = Net::with_workers(2);
    let publisher = net.join_on(0, "r", "pub", true);
    let far = net.join_on(1, "r", "far", true);
    let (sender, ssrcs) = net.publish_simulcast(publisher);
    net.connect_all(Duration::from_secs(10));
    let mut frame = 0u16;
    let mut send_frames = |net: &mut Net, frames: u16| {
        for _ in 0..frames {
            let key = frame.is_multiple_of(30);
            for (layer, ssrc) in ssrcs.iter().enumerate() {
                let mut packet = vp8_layer_packet(
                    *ssrc,
                    layer as u8,
                    frame.wrapping_add(1000 * layer as u16),
                    u32::from(frame) * 3000 + 7_000_000 * layer as u32,
                    frame.wrapping_add(5000 * layer as u16) & 0x7fff,
                    key,
                );
                let acked = net.clients[publisher].acked.lock().unwrap().contains(ssrc);
                if !acked {
                    net.tag_simulcast(&mut packet, ["q", "h", "f"][layer]);
                }
                for (from, datagram) in net.publisher_datagrams(publisher, sender, packet) {
                    net.deliver(from, datagram);
                }
            }
            frame += 1;
            net.advance(Duration::from_millis(33));
        }
    };
    send_frames(&mut net, 240);
    let publisher_sid = net.clients[publisher].sid.clone();
    let layer_changes = |net: &Net| -> Vec<Vec<String>> {
        net.events
            .iter()
            .filter(|(sid, _)| *sid == publisher_sid)
            .filter_map(|(_, e)| match e {
                SfuEvent::PublisherLayers { active_rids, .. } => Some(active_rids.clone()),
                _ => None,
            })
            .collect()
    };
    // Nobody on worker 0 subscribes: what worker 1 receives (f) stays on, only h is paused.
    assert_eq!(
        layer_changes(&net),
        vec![vec!["q".to_owned(), "f".to_owned()]]
    );
    let layer_of = |p: &rtc::rtp::Packet| *p.payload.last().unwrap();
    let received = &net.clients[far].received;
    assert!(received.len() > 100, "{} packets", received.len());
    assert_eq!(
        layer_of(received.last().unwrap()),
        2,
        "far gets the top layer"
    );

    let track = net.published_track();
    let request = SetLayerLimit {
        sid: net.clients[far].sid.clone(),
        track: track.clone(),
        limit: LayerLimit::MaxRank(0),
    };
    let now = net.now;
    net.core_of(1).handle(now, request).unwrap();
    let before = net.clients[far].received.len();
    send_frames(&mut net, 180);
    let received = &net.clients[far].received;
    let after: Vec<u8> = received[before..].iter().map(layer_of).collect();
    let switch_at = after.iter().position(|l| *l == 0).expect("switched to q");
    assert!(after[switch_at..].iter().all(|l| *l == 0), "stays on q");
    for pair in received.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number.wrapping_add(1),
            "one continuous stream across the switch"
        );
        assert_eq!(pair[1].header.ssrc, pair[0].header.ssrc);
    }
    // Only worker 1 needs anything of the track, and only q: worker 0 pauses h and f.
    assert_eq!(layer_changes(&net).last(), Some(&vec!["q".to_owned()]));
}

/// A shard whose opening join failed holds nobody: the first answer to its `Hello` makes it
/// say `Bye`, and nothing is relayed to it afterwards.
#[test]
fn a_shard_left_empty_by_a_failed_join_is_not_fed() {
    let mut net = Net::with_workers(2);
    let publisher = net.join_on(0, "lesson", "teacher", true);
    let near = net.join_on(0, "lesson", "near", false);
    let (sender, ssrc) = net.publish_video(publisher);
    net.connect_all(Duration::from_secs(10));
    let now = net.now;
    let open = sfu::input::OpenShard {
        room: "lesson".into(),
        others: vec![0],
    };
    net.core_of(1).handle(now, open).unwrap();
    net.settle();
    let sent = stream(&mut net, publisher, sender, ssrc, 1000, 200);
    assert_byte_exact(&net, near, &sent);
    assert_eq!(relayed(&mut net), 0, "nothing fanned out on worker 1");
    let people = lesson_on(&mut net, 1, now);
    assert!(people.is_empty());
}
