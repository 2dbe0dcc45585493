//! WHIP/WHEP and publish offers as Parley handles them before webrtc-rs negotiates: the m-line
//! walk (limits, directions, codecs), the msid fix-up for clients that send none, the answer's
//! extmap direction fix. (`sdp_parse` adds webrtc-rs's parse of the result.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else {
        return;
    };
    let sections = sfu::sdp::media_sections(sdp);
    for section in &sections {
        let _ = (
            section.direction.sends(),
            section.direction.reversed().as_str(),
        );
    }
    let normalized = sfu::sdp::normalize_offer(sdp);
    assert_eq!(
        sfu::sdp::media_sections(&normalized).len(),
        sections.len(),
        "normalizing keeps the m-lines"
    );
    let _ = sfu::sdp::fix_answer_extmap_directions(sdp, &normalized);
});
