//! The VP8 payload descriptor: parsed on every forwarded VP8 packet, and rewritten (picture id,
//! TL0PICIDX) across simulcast layer switches.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sfu::vp8::parse(data);
    let _ = sfu::codec::vp8_descriptor_len(data);
    let _ = sfu::codec::vp8_keyframe_size(data);
    // A stream of packets cut from the input, with a source switch in the middle.
    let mut munger = sfu::vp8::Vp8Munger::default();
    for (i, packet) in data.chunks(23).enumerate() {
        if i == 3 {
            munger.switch_source();
        }
        if let Some(rewritten) = munger.rewrite(packet) {
            let _ = sfu::vp8::parse(&rewritten);
        }
    }
});
