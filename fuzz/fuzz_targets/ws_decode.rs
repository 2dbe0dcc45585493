//! The WebSocket message decoder (`Session::handle_text` runs it on every text frame): any
//! frame becomes a message or an error reply with a code, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(message) = signaling::protocol::decode(text) {
            // What decodes re-encodes and decodes the same.
            let again = serde_json::to_string(&message).expect("messages serialize");
            if again.len() <= signaling::protocol::MAX_MESSAGE_BYTES {
                assert!(signaling::protocol::decode(&again).is_ok(), "{again}");
            }
        }
    }
});
