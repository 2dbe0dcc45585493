//! Keyframe detection (VP8 and H264, single NAL, STAP-A and FU-A): decides when a subscriber
//! may switch layers, on every packet of a wanted layer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let _ = sfu::codec::vp8_is_keyframe_start(payload);
    let _ = sfu::codec::h264_is_keyframe(payload);
    for mime in ["video/VP8", "video/H264"] {
        if let Some(codec) = sfu::codec::VideoCodec::from_mime(mime) {
            let _ = codec.is_keyframe_start(payload);
        }
    }
});
