//! Just enough codec payload parsing to forward without decoding: is this packet the start of a
//! keyframe? Subscribers can only start decoding there, so a new video subscription waits for one.
//! Never panics on short or garbage payloads: it answers `false`.

/// The video codecs the forwarder understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    H264,
}

impl VideoCodec {
    pub fn from_mime(mime: &str) -> Option<Self> {
        if mime.eq_ignore_ascii_case("video/VP8") {
            Some(Self::Vp8)
        } else if mime.eq_ignore_ascii_case("video/H264") {
            Some(Self::H264)
        } else {
            None
        }
    }

    pub fn is_keyframe_start(self, payload: &[u8]) -> bool {
        match self {
            Self::Vp8 => vp8_is_keyframe_start(payload),
            Self::H264 => h264_is_keyframe(payload),
        }
    }
}

/// Length of the VP8 payload descriptor (RFC 7741 §4.2), or `None` if truncated.
pub fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    let mut len = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        len += 1;
        if ext & 0x80 != 0 {
            // I: PictureID, 7 or 15 bits depending on M.
            let pid = *payload.get(len)?;
            len += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1; // L: TL0PICIDX
        }
        if ext & 0x30 != 0 {
            len += 1; // T or K: TID/Y/KEYIDX
        }
    }
    (len <= payload.len()).then_some(len)
}

/// True for the first packet of a VP8 keyframe: start of partition 0 whose frame tag has P = 0.
pub fn vp8_is_keyframe_start(payload: &[u8]) -> bool {
    let Some(first) = payload.first() else {
        return false;
    };
    let start_of_partition = first & 0x10 != 0;
    let partition_index = first & 0x07;
    if !start_of_partition || partition_index != 0 {
        return false;
    }
    vp8_descriptor_len(payload)
        .and_then(|len| payload.get(len))
        .is_some_and(|tag| tag & 0x01 == 0)
}

/// Width and height announced by a VP8 keyframe (RFC 6386 §9.1), from its first packet.
pub fn vp8_keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    if !vp8_is_keyframe_start(payload) {
        return None;
    }
    let frame = payload.get(vp8_descriptor_len(payload)?..)?;
    if frame.get(3..6)? != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([*frame.get(6)?, *frame.get(7)?]) & 0x3fff;
    let height = u16::from_le_bytes([*frame.get(8)?, *frame.get(9)?]) & 0x3fff;
    (width > 0 && height > 0).then_some((width, height))
}

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_STAP_A: u8 = 24;
const H264_FU_A: u8 = 28;

/// True if the packet carries an IDR slice or SPS (RFC 6184 single NAL, STAP-A, FU-A start).
pub fn h264_is_keyframe(payload: &[u8]) -> bool {
    let Some(header) = payload.first() else {
        return false;
    };
    let is_key = |nal_type: u8| nal_type == H264_IDR || nal_type == H264_SPS;
    match header & 0x1f {
        H264_STAP_A => {
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let size = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                if size == 0 || rest.len() < 2 + size {
                    return false;
                }
                if is_key(rest[2] & 0x1f) {
                    return true;
                }
                rest = &rest[2 + size..];
            }
            false
        }
        H264_FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && is_key(fu & 0x1f)),
        nal_type => is_key(nal_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_detection_table() {
        // (payload, keyframe start?)
        let cases: &[(&[u8], bool)] = &[
            (&[], false),
            (&[0x10], false),                        // descriptor only, no frame tag
            (&[0x10, 0x00], true),                   // S=1 PID=0, tag P=0
            (&[0x10, 0x01], false),                  // interframe
            (&[0x00, 0x00], false),                  // not start of partition
            (&[0x11, 0x00], false),                  // partition 1
            (&[0x90, 0x80, 0x85, 0x21, 0x00], true), // X, I with 15-bit picture id
            (&[0x90, 0x80, 0x85], false),            // truncated picture id
            // X with I, L, T: 15-bit PID (2) + TL0PICIDX + TID byte, then tag P=0
            (&[0x90, 0xE0, 0x92, 0x4A, 0xF2, 0x40, 0x50], true),
            (&[0x90, 0xE0, 0x92, 0x4A, 0xF2, 0x40, 0x51], false),
            (&[0x90, 0xE0, 0x92, 0x4A, 0xF2, 0x40], false), // truncated before the tag
        ];
        for (payload, expected) in cases {
            assert_eq!(vp8_is_keyframe_start(payload), *expected, "{payload:02x?}");
        }
    }

    #[test]
    fn vp8_keyframe_size_table() {
        let key_640x360 = [
            0x10, 0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
        ];
        type Case<'a> = (&'a [u8], Option<(u16, u16)>);
        let cases: &[Case] = &[
            (&key_640x360, Some((640, 360))),
            (&key_640x360[..9], None), // truncated
            (
                &[
                    0x10, 0x51, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
                ],
                None,
            ), // interframe
            (
                &[
                    0x10, 0x50, 0x2a, 0x01, 0x00, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
                ],
                None,
            ), // no start code
        ];
        for (payload, expected) in cases {
            assert_eq!(vp8_keyframe_size(payload), *expected, "{payload:02x?}");
        }
    }

    #[test]
    fn h264_keyframe_detection_table() {
        let cases: &[(&[u8], bool)] = &[
            (&[], false),
            (&[0x65, 0x88], true),                                     // IDR
            (&[0x67, 0x42], true),                                     // SPS
            (&[0x41, 0x9a], false),                                    // non-IDR slice
            (&[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68], true), // STAP-A with SPS
            (&[0x78, 0x00, 0x02, 0x41, 0x42], false),                  // STAP-A, non-key
            (&[0x78, 0x00, 0x09, 0x67], false),                        // STAP-A, size overruns
            (&[0x7c, 0x85, 0x00], true),                               // FU-A start of IDR
            (&[0x7c, 0x05, 0x00], false),                              // FU-A continuation
            (&[0x7c], false),                                          // FU-A truncated
        ];
        for (payload, expected) in cases {
            assert_eq!(h264_is_keyframe(payload), *expected, "{payload:02x?}");
        }
    }

    #[test]
    fn codec_from_mime_is_case_insensitive() {
        assert_eq!(VideoCodec::from_mime("video/vp8"), Some(VideoCodec::Vp8));
        assert_eq!(VideoCodec::from_mime("video/H264"), Some(VideoCodec::H264));
        assert_eq!(VideoCodec::from_mime("audio/opus"), None);
    }
}
