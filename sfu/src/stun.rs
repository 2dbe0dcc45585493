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

/// For a STUN message carrying USERNAME `"<local ufrag>:<remote ufrag>"`, the local ufrag.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    if !is_stun(datagram) {
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
            let username = std::str::from_utf8(value).ok()?;
            return username.split_once(':').map(|(local, _)| local);
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
    fn finds_local_ufrag_after_other_attributes() {
        let msg = binding_request(&[(0x8029, &[1; 8]), (ATTR_USERNAME, b"serverUfrag:cli")]);
        assert_eq!(local_ufrag(&msg), Some("serverUfrag"));
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

    #[test]
    fn rejects_malformed_input_without_panicking() {
        let good = binding_request(&[(ATTR_USERNAME, b"abc:def")]);
        let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
            (vec![], None),
            (vec![0x80; 40], None),      // RTP, not STUN
            (good[..24].to_vec(), None), // body shorter than declared
            (binding_request(&[(ATTR_USERNAME, b"nocolon")]), None), // not ICE form
            (
                binding_request(&[(ATTR_USERNAME, &[0xff, b':', 0x80])]),
                None,
            ), // not UTF-8
            (binding_request(&[(0x0024, &[0; 4])]), None), // no USERNAME
            (good.clone(), Some("abc")),
        ];
        for (datagram, expected) in cases {
            assert_eq!(local_ufrag(&datagram), expected, "{datagram:02x?}");
        }
        // Attribute length pointing past the end.
        let mut broken = good;
        broken[22] = 0xff;
        assert_eq!(local_ufrag(&broken), None);
    }
}
