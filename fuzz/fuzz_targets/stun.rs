//! The demultiplexer's STUN walk (`sfu::stun`): every datagram on the media port reaches it
//! before any peer connection does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    let stun = sfu::stun::is_stun(datagram);
    let nomination = sfu::stun::is_nomination(datagram);
    assert!(stun || !nomination, "a nomination is STUN");
    let _ = sfu::stun::classify(datagram);
});
