//! Packets and checks the tests build by hand: VP8 packets (plain and simulcast layers), SDP
//! attributes, and the connectivity checks a client would send.

use bytes::{Bytes, BytesMut};

/// A VP8 packet of simulcast layer `layer` (0..=2: 320x180, 640x360, 1280x720) with a 15-bit
/// picture id; the last payload byte names the layer so receivers can tell which one arrived.
pub fn vp8_layer_packet(
    ssrc: u32,
    layer: u8,
    seq: u16,
    ts: u32,
    picture_id: u16,
    key: bool,
) -> rtc::rtp::Packet {
    let (w, h): (u16, u16) = [(320, 180), (640, 360), (1280, 720)][usize::from(layer.min(2))];
    let mut payload = vec![0x90, 0x80, 0x80 | (picture_id >> 8) as u8, picture_id as u8];
    payload.extend_from_slice(&[if key { 0x10 } else { 0x11 }, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
    payload.extend_from_slice(&w.to_le_bytes());
    payload.extend_from_slice(&h.to_le_bytes());
    // Bigger layers cost more, as real ones do (about 60, 170 and 280 kb/s at 30 frames/s).
    payload.resize([250, 700, 1150][usize::from(layer.min(2))], 0xCD);
    payload.push(layer);
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            marker: true,
            payload_type: 96,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload: Bytes::from(payload),
    }
}

/// A VP8 packet: a keyframe start when `key`, 1000 bytes of payload.
pub fn vp8_packet(ssrc: u32, payload_type: u8, seq: u16, ts: u32, key: bool) -> rtc::rtp::Packet {
    let mut payload = vec![
        0x10,
        if key { 0x10 } else { 0x11 },
        0x02,
        0x00,
        0x9d,
        0x01,
        0x2a,
        0x40,
        0x01,
        0xb4,
        0x00,
    ];
    payload.resize(1000, 0xAB);
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            marker: true,
            payload_type,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload: Bytes::from(payload),
    }
}

/// `a=<name>:<value>` from an SDP.
pub fn sdp_attribute(sdp: &str, name: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix(&format!("a={name}:")))
        .unwrap_or_else(|| panic!("no a={name} in {sdp}"))
        .trim()
        .to_owned()
}

/// A connectivity check a client would send with the credentials of `server_sdp` (the
/// server's description) and `client_sdp` (its own): USERNAME, PRIORITY, ICE-CONTROLLING,
/// MESSAGE-INTEGRITY with the server's password, FINGERPRINT.
pub fn stun_check(server_sdp: &str, client_sdp: &str) -> BytesMut {
    stun_check_nominating(server_sdp, client_sdp, false)
}

/// [`stun_check`], with USE-CANDIDATE when `nominate` (the browser picking this pair).
pub fn stun_check_nominating(server_sdp: &str, client_sdp: &str, nominate: bool) -> BytesMut {
    use rtc::ice::attributes::control::AttrControlling;
    use rtc::ice::attributes::priority::PriorityAttr;
    use rtc::ice::attributes::use_candidate::UseCandidateAttr;
    use rtc::stun::attributes::ATTR_USERNAME;
    use rtc::stun::fingerprint::FINGERPRINT;
    use rtc::stun::integrity::MessageIntegrity;
    use rtc::stun::message::{Message, Setter, TransactionId, BINDING_REQUEST};
    use rtc::stun::textattrs::Username;
    let username = format!(
        "{}:{}",
        sdp_attribute(server_sdp, "ice-ufrag"),
        sdp_attribute(client_sdp, "ice-ufrag")
    );
    let provider = rtc::crypto::default_provider().unwrap();
    let mut m = Message::new();
    let mut setters: Vec<Box<dyn Setter>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId::new()),
        Box::new(Username::new(ATTR_USERNAME, username)),
        Box::new(PriorityAttr(1_845_501_695)),
        Box::new(AttrControlling(7)),
    ];
    if nominate {
        setters.push(Box::new(UseCandidateAttr));
    }
    setters.extend::<[Box<dyn Setter>; 2]>([
        Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
            sdp_attribute(server_sdp, "ice-pwd"),
            provider.crypto(),
        )),
        Box::new(FINGERPRINT),
    ]);
    m.build(&setters).unwrap();
    BytesMut::from(&m.raw[..])
}
