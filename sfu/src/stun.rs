//! The one piece of STUN the demultiplexer needs before any peer connection sees a datagram:
//! which local ICE username fragment a binding request is addressed to. A zero-copy walk over the
//! attributes; anything malformed answers `None` (the datagram is then dropped).

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER_LEN: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;

/// True if the datagram looks like STUN (RFC 7983 demultiplexing: first byte 0..=3, cookie).
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram[0] < 4 && datagram[4..8] == MAGIC_COOKIE
}

const BINDING_REQUEST: [u8; 2] = [0x00, 0x01];
const ATTR_USE_CANDIDATE: u16 = 0x0025;

/// True for a binding request that nominates its pair (USE-CANDIDATE, RFC 8445 §7.1.2).
pub fn is_nomination(datagram: &[u8]) -> bool {
    if !is_stun(datagram) || datagram[0..2] != BINDING_REQUEST {
        return false;
    }
    let body_len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let Some(mut rest) = datagram.get(HEADER_LEN..HEADER_LEN + body_len) else {
        return false;
    };
    while rest.len() >= 4 {
        let attr_type = u16::from_be_bytes([rest[0], rest[1]]);
        if attr_type == ATTR_USE_CANDIDATE {
            return true;
        }
        let attr_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let Some(next) = rest.get(4 + ((attr_len + 3) & !3)..) else {
            return false;
        };
        rest = next;
    }
    false
}

/// How the demultiplexer routes a datagram (see [`classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A STUN Binding request addressed to this local ICE username fragment.
    BindingRequest { local_ufrag: &'a str },
    /// Anything else (STUN responses and indications, DTLS, RTP, RTCP): only the address of a
    /// validated pair may route it, and nothing may create state from it.
    ByAddress,
}

/// Routes by USERNAME only for Binding requests. Responses and indications may carry a
/// USERNAME too (libnice copies the request's into its success responses), but theirs is the
/// *remote* agent's view (`"<its ufrag>:<ours>"`), so it must never pick the connection. A
/// request whose USERNAME is missing or malformed goes by address, where its source is known.
pub fn classify(datagram: &[u8]) -> Route<'_> {
    match binding_request_username(datagram).and_then(|u| u.split_once(':')) {
        Some((local_ufrag, _)) if !local_ufrag.is_empty() => Route::BindingRequest { local_ufrag },
        _ => Route::ByAddress,
    }
}

/// The USERNAME of a STUN Binding request (class request, method binding), if any.
fn binding_request_username(datagram: &[u8]) -> Option<&str> {
    if !is_stun(datagram) || datagram[0..2] != BINDING_REQUEST {
        return None;
    }
    let body_len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let body = datagram.get(HEADER_LEN..HEADER_LEN + body_len)?;
    let mut rest = body;
    while rest.len() >= 4 {
        let attr_type = u16::from_be_bytes([rest[0], rest[1]]);
        let attr_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let value = rest.get(4..4 + attr_len)?;
        if attr_type == ATTR_USERNAME {
            return std::str::from_utf8(value).ok();
        }
        let padded = (attr_len + 3) & !3;
        rest = rest.get(4 + padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (ty, value) in attrs {
            body.extend_from_slice(&ty.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            body.resize((body.len() + 3) & !3, 0);
        }
        let mut msg = vec![0x00, 0x01];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn nominations_are_recognised() {
        let plain = binding_request(&[(ATTR_USERNAME, b"a:b")]);
        let nominating = binding_request(&[(ATTR_USERNAME, b"a:b"), (ATTR_USE_CANDIDATE, b"")]);
        assert!(!is_nomination(&plain));
        assert!(is_nomination(&nominating));
        let mut response = nominating.clone();
        response[1] = 0x01;
        response[0] = 0x01; // binding success response
        assert!(!is_nomination(&response));
        assert!(!is_nomination(&nominating[..22]));
        assert!(!is_nomination(&[]));
    }

    /// The same attributes with another message type (class and method bits).
    fn with_type(mut msg: Vec<u8>, message_type: u16) -> Vec<u8> {
        msg[0..2].copy_from_slice(&message_type.to_be_bytes());
        msg
    }

    #[test]
    #[rustfmt::skip]
    fn only_binding_requests_route_by_username() {
        use Route::*;
        let good = binding_request(&[(ATTR_USERNAME, b"abc:def")]);
        let mut past_end = good.clone();
        past_end[22] = 0xff; // attribute length pointing past the end
        let rows: Vec<(&str, Vec<u8>, Route)> = vec![
            ("binding request",                  good.clone(),                                                          BindingRequest { local_ufrag: "abc" }),
            ("ufrag after other attributes",     binding_request(&[(0x8029, &[1; 8]), (ATTR_USERNAME, b"srv:cli")]),    BindingRequest { local_ufrag: "srv" }),
            ("success response with USERNAME",   with_type(good.clone(), 0x0101),                                       ByAddress),
            ("error response with USERNAME",     with_type(good.clone(), 0x0111),                                       ByAddress),
            ("binding indication with USERNAME", with_type(good.clone(), 0x0011),                                       ByAddress),
            ("allocate request (TURN method)",   with_type(good.clone(), 0x0003),                                       ByAddress),
            ("empty",                            vec![],                                                                ByAddress),
            ("RTP",                              vec![0x80; 40],                                                        ByAddress),
            ("DTLS record",                      vec![22; 40],                                                          ByAddress),
            ("body shorter than declared",       good[..24].to_vec(),                                                   ByAddress),
            ("attribute past the end",           past_end,                                                              ByAddress),
            ("username without colon",           binding_request(&[(ATTR_USERNAME, b"nocolon")]),                       ByAddress),
            ("empty local ufrag",                binding_request(&[(ATTR_USERNAME, b":cli")]),                          ByAddress),
            ("username not UTF-8",               binding_request(&[(ATTR_USERNAME, &[0xff, b':', 0x80])]),              ByAddress),
            ("no USERNAME",                      binding_request(&[(0x0024, &[0; 4])]),                                 ByAddress),
        ];
        for (name, datagram, expected) in &rows {
            assert_eq!(classify(datagram), *expected, "{name}: {datagram:02x?}");
        }
    }

    fn fixture(hex: &str) -> Vec<u8> {
        hex::decode(hex.trim()).expect("fixture is hex")
    }

    /// Datagrams real clients sent to Parley (`sfu/tests/fixtures/stun/README.md`).
    #[test]
    #[rustfmt::skip]
    fn real_clients_datagrams_route_as_they_should() {
        use Route::*;
        let rows: Vec<(&str, &str, Route, bool)> = vec![
            // (capture, hex, route, nominates)
            ("libnice request",    include_str!("../tests/fixtures/stun/libnice_request.hex"),    BindingRequest { local_ufrag: "e42cpAHjvHbtXKAc" }, false),
            ("libnice nomination", include_str!("../tests/fixtures/stun/libnice_nomination.hex"), BindingRequest { local_ufrag: "e42cpAHjvHbtXKAc" }, true),
            // libnice copies USERNAME into its success response, the client's ufrag first.
            ("libnice response",   include_str!("../tests/fixtures/stun/libnice_response.hex"),   ByAddress,                                          false),
            ("Chromium request",   include_str!("../tests/fixtures/stun/chromium_request.hex"),   BindingRequest { local_ufrag: "D2H0Zx9TliDt8BVX" }, false),
            ("Chromium response",  include_str!("../tests/fixtures/stun/chromium_response.hex"),  ByAddress,                                          false),
            ("Firefox request",    include_str!("../tests/fixtures/stun/firefox_request.hex"),    BindingRequest { local_ufrag: "txGvApYQ1hJSesjO" }, false),
            ("Firefox response",   include_str!("../tests/fixtures/stun/firefox_response.hex"),   ByAddress,                                          false),
            ("aiortc nomination",  include_str!("../tests/fixtures/stun/aiortc_nomination.hex"),  BindingRequest { local_ufrag: "AiortcServerUfrg" }, true),
            ("aiortc response",    include_str!("../tests/fixtures/stun/aiortc_response.hex"),    ByAddress,                                          false),
        ];
        for (name, hex, route, nominates) in rows {
            let datagram = fixture(hex);
            assert!(is_stun(&datagram), "{name}");
            assert_eq!(classify(&datagram), route, "{name}");
            assert_eq!(is_nomination(&datagram), nominates, "{name}");
        }
    }
}
