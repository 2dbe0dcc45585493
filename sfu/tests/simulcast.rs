//! Simulcast through the real core and real webrtc-rs clients, in memory: a publisher sends
//! three RID layers; a subscriber gets the best one, switches down on request (at a keyframe,
//! with continuous sequence numbers and picture ids), and unused layers are paused (dynacast).

#[path = "../benches/harness/mod.rs"]
mod harness;

use harness::{vp8_layer_packet, Net};
use sfu::input::SetLayerLimit;
use sfu::{LayerLimit, ParticipantSid, SfuEvent, TrackSid};
use std::time::Duration;

struct Publisher {
    index: usize,
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    ssrcs: [u32; 3],
    frame: u16,
    /// Stop sending the mid/rid extensions after this many frames. `u16::MAX`: until, as
    /// Chromium does, a receiver report from the server names the layer's SSRC.
    tag_frames: u16,
}

impl Publisher {
    /// One frame on every layer (one packet each), keyframes every 30 frames; 33 ms pass.
    fn frame(&mut self, net: &mut Net) {
        let key = self.frame.is_multiple_of(30);
        for (layer, ssrc) in self.ssrcs.iter().enumerate() {
            let mut packet = vp8_layer_packet(
                *ssrc,
                layer as u8,
                self.frame.wrapping_add(1000 * layer as u16),
                u32::from(self.frame) * 3000 + 7_000_000 * layer as u32,
                self.frame.wrapping_add(5000 * layer as u16) & 0x7fff,
                key,
            );
            let acked = net.clients[self.index].acked.lock().unwrap().contains(ssrc);
            if self.frame < self.tag_frames && !acked {
                net.tag_simulcast(&mut packet, ["q", "h", "f"][layer]);
            }
            for (from, datagram) in net.publisher_datagrams(self.index, self.sender, packet) {
                net.deliver(from, datagram);
            }
        }
        self.frame += 1;
        net.advance(Duration::from_millis(33));
    }
}

/// A room with a connected 3-layer simulcast publisher (tagging its first `tag_frames` frames
/// with mid and rid) and one subscriber: the publisher, and the subscriber's client index.
fn simulcast_room(net: &mut Net, tag_frames: u16) -> (Publisher, usize) {
    let index = net.join("r", "pub", true);
    let subscriber = net.join("r", "sub", true);
    let (sender, ssrcs) = net.publish_simulcast(index);
    net.connect_all(Duration::from_secs(10));
    let publisher = Publisher {
        index,
        sender,
        ssrcs,
        frame: 0,
        tag_frames,
    };
    (publisher, subscriber)
}

fn picture_id(p: &rtc::rtp::Packet) -> u16 {
    (u16::from(p.payload[2] & 0x7f) << 8) | u16::from(p.payload[3])
}

#[test]
fn best_layer_then_down_on_request_seamlessly_and_dynacast_pauses_the_rest() {
    let mut net = Net::new();
    let (mut publisher, subscriber) = simulcast_room(&mut net, u16::MAX);
    let index = publisher.index;
    for _ in 0..240 {
        publisher.frame(&mut net);
    }
    let received = &net.clients[subscriber].received;
    assert!(received.len() > 100, "{} packets", received.len());
    let last_layer = *received.last().unwrap().payload.last().unwrap();
    assert_eq!(
        last_layer, 2,
        "the subscriber ends up on the top layer (1280x720)"
    );

    let track = net
        .events
        .iter()
        .find_map(|(_, e)| match e {
            SfuEvent::TrackPublished(meta) => Some(meta.sid.clone()),
            _ => None,
        })
        .expect("track published");
    let sub_sid = net.clients[subscriber].sid.clone();
    limit_layers(&mut net, &sub_sid, &track, LayerLimit::MaxRank(0));
    let before = net.clients[subscriber].received.len();
    for _ in 0..180 {
        publisher.frame(&mut net);
    }
    let received = &net.clients[subscriber].received;
    let after_request: Vec<u8> = received[before..]
        .iter()
        .map(|p| *p.payload.last().unwrap())
        .collect();
    let switch_at = after_request
        .iter()
        .position(|l| *l == 0)
        .expect("switched to q");
    assert!(
        after_request[switch_at..].iter().all(|l| *l == 0),
        "stays on q"
    );
    assert!(
        after_request[..switch_at].iter().all(|l| *l == 2),
        "f until q's keyframe"
    );
    // One continuous stream for the decoder across the switch.
    for pair in received.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number.wrapping_add(1)
        );
        assert_eq!(pair[1].header.ssrc, pair[0].header.ssrc);
        let step = picture_id(&pair[1]).wrapping_sub(picture_id(&pair[0])) & 0x7fff;
        assert_eq!(step, 1, "picture ids continue");
        assert!(
            pair[1]
                .header
                .timestamp
                .wrapping_sub(pair[0].header.timestamp)
                <= 6000
        );
    }
    // Nobody needs h and f any more: the publisher is told to send q only.
    let publisher_sid = net.clients[index].sid.clone();
    let dynacast: Vec<&Vec<String>> = net
        .events
        .iter()
        .filter(|(sid, _)| *sid == publisher_sid)
        .filter_map(|(_, e)| match e {
            SfuEvent::PublisherLayers {
                track: t,
                active_rids,
                ..
            } if *t == track => Some(active_rids),
            _ => None,
        })
        .collect();
    assert_eq!(
        dynacast.last().map(|v| v.as_slice()),
        Some(&["q".to_owned()][..]),
        "{dynacast:?}"
    );
    let _ = TrackSid::random();
}

#[test]
fn heavy_loss_on_the_downlink_moves_the_subscriber_down_and_recovery_back_up() {
    let mut net = Net::new();
    let (mut publisher, subscriber) = simulcast_room(&mut net, u16::MAX);
    // The layer of the newest packet in stream order: NACK repairs of older packets arrive late
    // and must not count as the current layer.
    let last_layer = |net: &Net| {
        let received = &net.clients[subscriber].received;
        let mut newest = &received[0];
        for p in received {
            if (p
                .header
                .sequence_number
                .wrapping_sub(newest.header.sequence_number) as i16)
                > 0
            {
                newest = p;
            }
        }
        *newest.payload.last().unwrap()
    };
    for _ in 0..240 {
        publisher.frame(&mut net);
    }
    assert_eq!(last_layer(&net), 2);
    // Lose 40% of what the server sends the subscriber: GCC's loss controller cuts the estimate.
    let sub_addr = net.clients[subscriber].addr;
    let mut n = 0u32;
    net.drop_to = Some(Box::new(move |peer, _| {
        n += 1;
        peer == sub_addr && n % 5 < 2
    }));
    let mut down_after = None;
    for frame in 0..300 {
        publisher.frame(&mut net);
        if last_layer(&net) == 0 {
            down_after = Some(frame);
            break;
        }
    }
    let down_after = down_after.expect("moved down to the smallest layer under loss");
    eprintln!("MEASURED: down to q after {} ms of loss", down_after * 33);
    net.drop_to = None;
    let mut up_after = None;
    for frame in 0..900 {
        publisher.frame(&mut net);
        if last_layer(&net) == 2 {
            up_after = Some(frame);
            break;
        }
    }
    let up_after = up_after.expect("climbed back to the top layer once the loss stopped");
    eprintln!("MEASURED: back to f after {} ms", up_after * 33);
    assert!(down_after * 33 <= 6000, "down fast");
    assert!(
        (3000..=15_000).contains(&(up_after * 33)),
        "up only after the 3 s hold, within 15 s"
    );
}

/// A screen share goes on its own connection, so the camera's connection is never
/// renegotiated (webrtc-rs 0.21.1 would drop its simulcast SSRC bindings, and Chromium no longer
/// sends the RID extension by then: the camera would go dark). The camera keeps flowing, and
/// the share reaches the subscriber too.
#[test]
fn a_screen_share_on_its_own_connection_leaves_the_simulcast_camera_flowing() {
    let mut net = Net::new();
    let (mut publisher, subscriber) = simulcast_room(&mut net, 20);
    let index = publisher.index;
    for _ in 0..120 {
        publisher.frame(&mut net);
    }
    let before = net.clients[subscriber].received.len();
    assert!(before > 50, "{before} packets before the share");
    let screen = net.add_screen_connection(index);
    let (screen_sender, screen_ssrc) = net.publish_video(screen);
    net.connect_all(Duration::from_secs(10));
    let codec_pt = 96;
    for n in 0..120u16 {
        publisher.frame(&mut net);
        let packet =
            harness::vp8_packet(screen_ssrc, codec_pt, n, u32::from(n) * 3000, n % 30 == 0);
        for (from, datagram) in net.publisher_datagrams(screen, screen_sender, packet) {
            net.deliver(from, datagram);
        }
    }
    let after = &net.clients[subscriber].received[before..];
    let ssrcs: std::collections::BTreeSet<u32> = after.iter().map(|p| p.header.ssrc).collect();
    assert!(
        after.len() > 150,
        "camera and screen kept flowing: {} packets in 4 s",
        after.len()
    );
    assert_eq!(ssrcs.len(), 2, "two streams: the camera and the screen");
}

/// Frames until the subscriber's newest packet is from `layer` (at most `limit`).
fn frames_until_layer(
    net: &mut Net,
    publisher: &mut Publisher,
    subscriber: usize,
    layer: u8,
    limit: u32,
) -> Option<u32> {
    (0..limit).find(|_| {
        publisher.frame(net);
        net.clients[subscriber]
            .received
            .last()
            .is_some_and(|p| p.payload.last() == Some(&layer))
    })
}

/// A new offer on the publisher's connection (a track added or stopped, an ICE restart), from a
/// publisher that behaves as Chromium: its offer names the layers by RID only (no `a=ssrc`),
/// and it stops sending MID and RID on a layer once a receiver report names the layer's SSRC.
/// webrtc-rs binds RID layers anew on every remote description, so the server must never
/// report them (`peer/reports.rs`): every layer is still there after the new offer.
#[test]
fn a_renegotiated_publisher_keeps_every_layer() {
    renegotiated_publisher_keeps_every_layer(false);
}

/// The same through an ICE restart (a browser's `restartIce()` after its network changed):
/// the server answers with new ICE credentials, the connection comes back, every layer flows.
#[test]
fn an_ice_restarted_publisher_keeps_every_layer() {
    renegotiated_publisher_keeps_every_layer(true);
}

fn server_ufrag(net: &Net, index: usize) -> String {
    let sdp = &net.clients[index]
        .pc
        .remote_description()
        .expect("answer")
        .sdp;
    sfu::sdp::ice_ufrag(sdp).expect("ufrag").to_owned()
}

fn renegotiated_publisher_keeps_every_layer(ice_restart: bool) {
    let mut net = Net::new();
    net.offer_rewrite = Some(|sdp| {
        sdp.lines()
            .filter(|l| !l.starts_with("a=ssrc"))
            .map(|l| format!("{l}\r\n"))
            .collect()
    });
    let (mut publisher, subscriber) = simulcast_room(&mut net, u16::MAX);
    assert!(
        frames_until_layer(&mut net, &mut publisher, subscriber, 2, 300).is_some(),
        "on f first"
    );
    // Two report intervals.
    for _ in 0..60 {
        publisher.frame(&mut net);
    }
    let acked = net.clients[publisher.index].acked.lock().unwrap().clone();
    assert!(
        publisher.ssrcs.iter().all(|s| !acked.contains(s)),
        "a report named a RID layer: {acked:?}"
    );
    let ufrag = server_ufrag(&net, publisher.index);
    if ice_restart {
        net.restart_publisher_ice(publisher.index);
        assert_ne!(
            server_ufrag(&net, publisher.index),
            ufrag,
            "the answer restarts ICE too"
        );
        net.connect_all(Duration::from_secs(5));
    } else {
        net.negotiate_publisher(publisher.index);
        assert_eq!(server_ufrag(&net, publisher.index), ufrag);
    }
    let before = net.clients[subscriber].received.len();
    for _ in 0..30 {
        publisher.frame(&mut net);
    }
    let after = net.clients[subscriber].received.len();
    assert!(
        after >= before + 25,
        "{} packets in 30 frames after the new offer",
        after - before
    );
    let track = net.published_track();
    let sub_sid = net.clients[subscriber].sid.clone();
    for (cap, layer) in [(2, 2u8), (0, 0), (1, 1), (2, 2)] {
        limit_layers(&mut net, &sub_sid, &track, LayerLimit::MaxRank(cap));
        let frames = frames_until_layer(&mut net, &mut publisher, subscriber, layer, 90);
        assert!(frames.is_some(), "after the new offer: no layer {layer}");
    }
}

/// GStreamer's `webrtcbin` offers RID simulcast without `a=msid`; webrtc-rs only binds RID
/// encodings when an msid is present. The core supplies one from the mid, so the layers are
/// forwarded like anyone else's.
#[test]
fn simulcast_offered_without_msid_is_forwarded() {
    let mut net = Net::new();
    net.offer_rewrite = Some(|sdp| {
        sdp.lines()
            .filter(|l| {
                !(l.starts_with("a=msid") || l.starts_with("a=ssrc:") && l.contains(" msid:"))
            })
            .map(|l| format!("{l}\r\n"))
            .collect()
    });
    let (mut publisher, subscriber) = simulcast_room(&mut net, u16::MAX);
    let on_top = frames_until_layer(&mut net, &mut publisher, subscriber, 2, 240);
    assert!(
        on_top.is_some(),
        "the subscriber gets the top layer: {} packets",
        net.clients[subscriber].received.len()
    );
    let track = net.published_track();
    let sub_sid = net.clients[subscriber].sid.clone();
    limit_layers(&mut net, &sub_sid, &track, LayerLimit::MaxRank(0));
    assert!(
        frames_until_layer(&mut net, &mut publisher, subscriber, 0, 60).is_some(),
        "switched to q"
    );
}

/// A subscriber that asks for a bigger layer the estimate already pays for gets it at that
/// layer's next keyframe (one second apart here), not after the bandwidth climb's hold; asking
/// for less in between is not a failed climb.
#[test]
fn requested_layers_within_the_estimate_switch_at_the_next_keyframe() {
    let mut net = Net::new();
    let (mut publisher, subscriber) = simulcast_room(&mut net, u16::MAX);
    assert!(
        frames_until_layer(&mut net, &mut publisher, subscriber, 2, 300).is_some(),
        "on f first"
    );
    let track = net.published_track();
    let sub_sid = net.clients[subscriber].sid.clone();
    // (requested cap, layer expected)
    for (cap, layer) in [(0, 0u8), (2, 2), (0, 0), (1, 1), (0, 0), (2, 2)] {
        limit_layers(&mut net, &sub_sid, &track, LayerLimit::MaxRank(cap));
        // Keyframes come every 30 frames: the switch is due within 31.
        let frames = frames_until_layer(&mut net, &mut publisher, subscriber, layer, 90);
        eprintln!(
            "MEASURED: cap {cap} -> layer {layer} after {:?} ms",
            frames.map(|f| (f + 1) * 33)
        );
        assert!(
            frames.is_some_and(|f| f <= 31),
            "cap {cap}: layer {layer} after {frames:?} frames"
        );
        for _ in 0..45 {
            publisher.frame(&mut net);
        }
    }
}

/// What the subscriber asks of the track, through the core's door.
fn limit_layers(net: &mut Net, sid: &ParticipantSid, track: &TrackSid, limit: LayerLimit) {
    let request = SetLayerLimit {
        sid: sid.clone(),
        track: track.clone(),
        limit,
    };
    let now = net.now;
    net.core.handle(now, request).unwrap();
}
