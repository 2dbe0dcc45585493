//! Synthetic media that an SFU cannot tell from the real thing at the RTP level, and that a
//! receiver can check byte for byte: every payload is a pure function of (stream tag, packet
//! index), and carries both in its last 12 bytes.
//!
//! Video is VP8-framed: 30 frames/s, two packets per frame, a keyframe (VP8 frame tag P = 0 with
//! the keyframe start code and dimensions) every 30 frames so a new subscriber starts within a
//! second. Audio is Opus-framed: one 20 ms packet per packet index.

use bytes::Bytes;

pub const VIDEO_CLOCK: u32 = 90_000;
pub const VIDEO_FPS: u32 = 30;
pub const VIDEO_PACKETS_PER_FRAME: u64 = 2;
pub const KEYFRAME_EVERY_FRAMES: u64 = 30;
pub const AUDIO_PACKET_MS: u32 = 20;
const TRAILER: usize = 12;
const VIDEO_PACKET_BYTES: usize = 600;
const AUDIO_PACKET_BYTES: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

/// Where packet `index` sits in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketPlan {
    pub timestamp_offset: u32,
    pub marker: bool,
    pub keyframe_start: bool,
}

pub fn plan(kind: Kind, index: u64) -> PacketPlan {
    match kind {
        Kind::Audio => PacketPlan {
            timestamp_offset: (index as u32).wrapping_mul(48 * AUDIO_PACKET_MS),
            marker: index == 0,
            keyframe_start: false,
        },
        Kind::Video => {
            let frame = index / VIDEO_PACKETS_PER_FRAME;
            let first_in_frame = index.is_multiple_of(VIDEO_PACKETS_PER_FRAME);
            PacketPlan {
                timestamp_offset: (frame as u32).wrapping_mul(VIDEO_CLOCK / VIDEO_FPS),
                marker: index % VIDEO_PACKETS_PER_FRAME == VIDEO_PACKETS_PER_FRAME - 1,
                keyframe_start: first_in_frame && frame.is_multiple_of(KEYFRAME_EVERY_FRAMES),
            }
        }
    }
}

/// The payload of packet `index` of stream `tag`.
pub fn payload(kind: Kind, tag: u32, index: u64) -> Bytes {
    let p = plan(kind, index);
    let (size, mut out) = match kind {
        Kind::Audio => (AUDIO_PACKET_BYTES, vec![0x78]), // Opus TOC: SILK-only WB 20 ms, mono
        Kind::Video => {
            let first_in_frame = index.is_multiple_of(VIDEO_PACKETS_PER_FRAME);
            // VP8 payload descriptor: S bit on the frame's first packet, partition 0.
            let mut head = vec![if first_in_frame { 0x10 } else { 0x00 }];
            if first_in_frame {
                if p.keyframe_start {
                    // Frame tag P=0 (key), version 0, show_frame, then start code and 320x180.
                    head.extend_from_slice(&[
                        0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00,
                    ]);
                } else {
                    head.extend_from_slice(&[0x11, 0x02, 0x00]); // P=1: interframe
                }
            }
            (VIDEO_PACKET_BYTES, head)
        }
    };
    let mut x = (u64::from(tag) << 32) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while out.len() < size - TRAILER {
        // xorshift: cheap, deterministic filler that differs per packet.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&tag.to_be_bytes());
    Bytes::from(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    TooShort,
    Corrupted { index: u64 },
}

/// Reads (tag, index) from a received payload and checks every byte against the generator.
pub fn check(kind: Kind, received: &[u8]) -> Result<(u32, u64), CheckError> {
    if received.len() < TRAILER {
        return Err(CheckError::TooShort);
    }
    let trailer = &received[received.len() - TRAILER..];
    let mut index = [0u8; 8];
    index.copy_from_slice(&trailer[..8]);
    let mut tag = [0u8; 4];
    tag.copy_from_slice(&trailer[8..]);
    let (index, tag) = (u64::from_be_bytes(index), u32::from_be_bytes(tag));
    if payload(kind, tag, index).as_ref() != received {
        return Err(CheckError::Corrupted { index });
    }
    Ok((tag, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_detect_corruption() {
        for kind in [Kind::Audio, Kind::Video] {
            for index in [0, 1, 2, 59, 60, 61, 1_000_000] {
                let p = payload(kind, 0xfeed, index);
                assert_eq!(check(kind, &p), Ok((0xfeed, index)));
                let mut bad = p.to_vec();
                bad[5] ^= 1;
                assert_eq!(check(kind, &bad), Err(CheckError::Corrupted { index }));
            }
        }
        assert_eq!(check(Kind::Audio, &[1, 2]), Err(CheckError::TooShort));
    }

    #[test]
    fn video_plan_table() {
        // (index, ts offset, marker, keyframe start)
        let rows = [
            (0, 0, false, true),
            (1, 0, true, false),
            (2, 3000, false, false),
            (3, 3000, true, false),
            (60, 90_000, false, true),
            (61, 90_000, true, false),
        ];
        for (index, ts, marker, key) in rows {
            assert_eq!(
                plan(Kind::Video, index),
                PacketPlan {
                    timestamp_offset: ts,
                    marker,
                    keyframe_start: key
                },
                "index {index}"
            );
        }
    }

    #[test]
    fn vp8_framing_matches_what_an_sfu_parses() {
        // Keyframe start: S bit, partition 0, frame tag P bit clear.
        let key = payload(Kind::Video, 1, 0);
        assert_eq!((key[0] & 0x10, key[0] & 0x07, key[1] & 0x01), (0x10, 0, 0));
        let inter = payload(Kind::Video, 1, 2);
        assert_eq!(inter[1] & 0x01, 1);
        let continuation = payload(Kind::Video, 1, 1);
        assert_eq!(continuation[0] & 0x10, 0);
    }
}
