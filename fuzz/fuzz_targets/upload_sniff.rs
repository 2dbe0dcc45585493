//! Upload content checks: the whole-body check and the streaming sniffer must agree, wherever
//! the body is cut into chunks, for every allowed type.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(body.len());
    for content_type in chat::ALLOWED_CONTENT_TYPES {
        let whole = chat::check_content(content_type, body).is_ok();
        let mut sniffer = chat::ContentSniffer::new(content_type);
        let streamed = sniffer
            .feed(&body[..cut])
            .and_then(|()| sniffer.feed(&body[cut..]))
            .and_then(|()| sniffer.finish())
            .is_ok();
        assert_eq!(whole, streamed, "{content_type} cut at {cut}");
    }
});
