//! An offer the way Parley hands it to webrtc-rs (`RTCSessionDescription::offer` of the
//! msid-normalized SDP): webrtc-rs's SDP parser sees every WHIP/WHEP/publish offer, so it must
//! refuse bad ones rather than panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else {
        return;
    };
    if sfu::sdp::media_sections(sdp).len() > 16 {
        return; // refused before parsing (limit_exceeded)
    }
    let _ = rtc::peer_connection::sdp::RTCSessionDescription::offer(sfu::sdp::normalize_offer(sdp));
});
