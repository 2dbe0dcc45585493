//! What a light subscriber reads of a datagram without decrypting anything: its kind (RFC 7983
//! demultiplexing by the first byte, RTCP told from RTP by the packet type in the second, RFC
//! 5761) and, for RTP, the header SRTP leaves in the clear (RFC 3711 encrypts the payload only):
//! SSRC, sequence number and the transport-wide sequence number extension.

/// What a datagram on a subscriber's socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    Stun,
    Dtls,
    Rtp,
    Rtcp,
    Other,
}

/// RFC 7983: STUN 0–3, DTLS 20–63, RTP/RTCP 128–191; RTCP packet types are 192–223 (RFC 5761).
pub fn classify(datagram: &[u8]) -> DatagramKind {
    match datagram.first() {
        Some(0..=3) => DatagramKind::Stun,
        Some(20..=63) => DatagramKind::Dtls,
        Some(128..=191) => match datagram.get(1) {
            Some(192..=223) => DatagramKind::Rtcp,
            Some(_) => DatagramKind::Rtp,
            None => DatagramKind::Other,
        },
        _ => DatagramKind::Other,
    }
}

/// The clear part of an (S)RTP packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub payload_type: u8,
    pub sequence_number: u16,
    pub ssrc: u32,
    /// The transport-wide sequence number, when the packet carries the extension `twcc_id`.
    pub transport_seq: Option<u16>,
}

const FIXED_HEADER: usize = 12;
const ONE_BYTE_PROFILE: u16 = 0xBEDE;
const TWO_BYTE_PROFILE_MASK: u16 = 0xFFF0;
const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Reads the header of an RTP packet; `None` if it is not one (wrong version, truncated).
/// `twcc_id` is the negotiated id of the transport-wide sequence number extension.
pub fn parse(packet: &[u8], twcc_id: Option<u8>) -> Option<RtpHeader> {
    let fixed = packet.get(..FIXED_HEADER)?;
    if fixed[0] >> 6 != 2 {
        return None;
    }
    let csrcs = usize::from(fixed[0] & 0x0f);
    let extension_at = FIXED_HEADER + 4 * csrcs;
    if packet.len() < extension_at {
        return None;
    }
    let has_extension = fixed[0] & 0x10 != 0;
    let transport_seq = match twcc_id {
        Some(id) if has_extension => extension(packet, extension_at, id),
        _ => None,
    };
    Some(RtpHeader {
        payload_type: fixed[1] & 0x7f,
        sequence_number: u16::from_be_bytes([fixed[2], fixed[3]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
        transport_seq,
    })
}

/// The first two bytes of extension `id` (RFC 8285 one- or two-byte form) as a big-endian u16.
fn extension(packet: &[u8], at: usize, id: u8) -> Option<u16> {
    let head = packet.get(at..at + 4)?;
    let profile = u16::from_be_bytes([head[0], head[1]]);
    let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let body = packet.get(at + 4..at + 4 + 4 * words)?;
    let two_byte = profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE;
    if profile != ONE_BYTE_PROFILE && !two_byte {
        return None;
    }
    let mut i = 0;
    while i < body.len() {
        let first = body[i];
        if first == 0 {
            i += 1; // padding
            continue;
        }
        let (element_id, len, data_at) = if two_byte {
            (first, usize::from(*body.get(i + 1)?), i + 2)
        } else {
            if first >> 4 == 15 {
                return None; // reserved id: stop (RFC 8285 §4.2)
            }
            (first >> 4, usize::from(first & 0x0f) + 1, i + 1)
        };
        let data = body.get(data_at..data_at + len)?;
        if element_id == id {
            return (len >= 2).then(|| u16::from_be_bytes([data[0], data[1]]));
        }
        i = data_at + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTP packet: version 2, `csrcs` CSRCs, seq 0x1234, SSRC 0xCAFEBABE, PT 96, then
    /// `extension` (profile + words, already padded) and a 4-byte payload.
    fn packet(csrcs: u8, extension: &[u8]) -> Vec<u8> {
        let x = if extension.is_empty() { 0 } else { 0x10 };
        let mut p = vec![0x80 | x | csrcs, 0x80 | 96, 0x12, 0x34, 0, 0, 0, 1];
        p.extend_from_slice(&0xCAFE_BABE_u32.to_be_bytes());
        for c in 0..csrcs {
            p.extend_from_slice(&[0, 0, 0, c]);
        }
        p.extend_from_slice(extension);
        p.extend_from_slice(&[9, 9, 9, 9]);
        p
    }

    #[rustfmt::skip]
    #[test]
    fn classifies_by_first_and_second_byte() {
        let cases: &[(&[u8], DatagramKind)] = &[
            (&[0x00, 0x01],       DatagramKind::Stun),
            (&[0x01, 0x01],       DatagramKind::Stun),
            (&[22, 0xfe],         DatagramKind::Dtls),
            (&[23, 0xfe],         DatagramKind::Dtls),
            (&[0x80, 96],         DatagramKind::Rtp),
            (&[0x80, 0x80 | 111], DatagramKind::Rtp),  // marker bit set
            (&[0x80, 200],        DatagramKind::Rtcp), // SR
            (&[0x81, 205],        DatagramKind::Rtcp), // transport feedback
            (&[0x80, 223],        DatagramKind::Rtcp),
            (&[0x80, 224],        DatagramKind::Rtp),
            (&[0x80],             DatagramKind::Other),
            (&[64, 0],            DatagramKind::Other),
            (&[],                 DatagramKind::Other),
        ];
        for &(datagram, kind) in cases {
            assert_eq!(classify(datagram), kind, "{datagram:?}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn reads_the_transport_wide_sequence_number() {
        let one_byte_twcc_3: &[u8] = &[0xBE, 0xDE, 0, 2, 0x10, 0x7f, 0x31, 0xAB, 0xCD, 0, 0, 0];
        let two_byte_twcc_3: &[u8] = &[0x10, 0x00, 0, 2, 1, 1, 0x7f, 3, 2, 0xAB, 0xCD, 0];
        let without_twcc: &[u8]    = &[0xBE, 0xDE, 0, 1, 0x10, 0x7f, 0, 0];
        let truncated: &[u8]       = &[0xBE, 0xDE, 0, 3, 0x31, 0xAB, 0xCD, 0];
        let unknown_profile: &[u8] = &[0x12, 0x34, 0, 1, 0x31, 0xAB, 0xCD, 0];
        type Case<'a> = (u8, &'a [u8], Option<u8>, Option<u16>);
        let cases: &[Case] = &[
            // csrcs, extension,       twcc id, transport seq
            (0, one_byte_twcc_3,        Some(3), Some(0xABCD)),
            (2, one_byte_twcc_3,        Some(3), Some(0xABCD)), // after the CSRCs
            (0, one_byte_twcc_3,        Some(1), None),         // id 1 is one byte long
            (0, one_byte_twcc_3,        None,    None),         // not negotiated
            (0, two_byte_twcc_3,        Some(3), Some(0xABCD)),
            (0, without_twcc,           Some(3), None),
            (0, truncated,              Some(3), None),
            (0, unknown_profile,        Some(3), None),
            (0, &[],                    Some(3), None),
        ];
        for &(csrcs, ext, id, expected) in cases {
            let header = parse(&packet(csrcs, ext), id).expect("an RTP header");
            assert_eq!(
                (header.ssrc, header.sequence_number, header.payload_type, header.transport_seq),
                (0xCAFE_BABE, 0x1234, 96, expected),
                "{ext:?} id {id:?}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_rtp() {
        assert_eq!(parse(&[0x80, 96, 0, 1], None), None, "truncated");
        let mut wrong_version = packet(0, &[]);
        wrong_version[0] = 0x40;
        assert_eq!(parse(&wrong_version, None), None);
        let mut missing_csrcs = packet(0, &[]);
        missing_csrcs[0] |= 0x0f;
        assert_eq!(parse(&missing_csrcs, None), None);
    }
}
