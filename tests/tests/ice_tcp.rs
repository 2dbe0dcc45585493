//! ICE-TCP through the real server: a WHIP answer advertises a passive TCP host candidate on
//! the TCP port, a connectivity check sent over TCP (RFC 4571 framing) with the answer's ICE
//! credentials is answered over the same connection, signed with the server's password, and
//! the connection is closed once the peer connection it served goes away. With `--ice-tcp
//! false` no TCP candidate is offered. Media over ICE-TCP is proven with Chromium
//! (tests/browser/ice-tcp.test.mjs); the hostile cases are in sfu/tests/ice_tcp.rs.

use loadtest::whip::post_offer;
use parley_e2e::{metric, offer_sdp, publisher_grants, TestServer};
use rtc::ice::attributes::control::AttrControlling;
use rtc::ice::attributes::priority::PriorityAttr;
use rtc::stun::attributes::ATTR_USERNAME;
use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{
    Getter, Message, Setter, TransactionId, BINDING_REQUEST, BINDING_SUCCESS,
};
use rtc::stun::textattrs::Username;
use rtc::stun::xoraddr::XorMappedAddress;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client's ICE credentials in `offer_sdp`.
const CLIENT_UFRAG: &str = "abcd";

fn whip_offer() -> String {
    offer_sdp(&[("audio", "sendonly", &[(111, "opus/48000/2")], &[])])
}

/// `a=<name>:<value>` from an SDP.
fn attribute<'a>(sdp: &'a str, name: &str) -> &'a str {
    sdp.lines()
        .find_map(|l| l.strip_prefix(&format!("a={name}:")))
        .unwrap_or_else(|| panic!("no a={name} in {sdp}"))
        .trim()
}

/// The address of the answer's passive TCP host candidate, if any.
fn tcp_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().find_map(|l| {
        let fields: Vec<&str> = l.strip_prefix("a=candidate:")?.split_whitespace().collect();
        let passive = fields.get(2)?.eq_ignore_ascii_case("tcp")
            && fields.get(6..8) == Some(&["typ", "host"][..])
            && fields.get(8..10) == Some(&["tcptype", "passive"][..]);
        passive.then(|| format!("{}:{}", fields[4], fields[5]).parse().ok())?
    })
}

async fn publish(server: &TestServer, room: &str) -> (String, String) {
    let token = server.token("obs", room, publisher_grants());
    let url = format!("{}/whip/{room}", server.base_url);
    let response = post_offer(&url, Some(&token), "application/sdp", whip_offer())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap();
    let location = format!("{}{location}", server.base_url);
    (location, response.text().await.unwrap())
}

/// A connectivity check as a browser sends its first one on a pair (controlling, not
/// nominating yet: rtc-ice answers a nomination only on a pair its own check has proven),
/// framed.
fn framed_check(server_ufrag: &str, server_pwd: &str) -> Vec<u8> {
    let provider = rtc::crypto::default_provider().unwrap();
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId::new()),
        Box::new(Username::new(
            ATTR_USERNAME,
            format!("{server_ufrag}:{CLIENT_UFRAG}"),
        )),
        Box::new(PriorityAttr(1_845_501_695)),
        Box::new(AttrControlling(7)),
        Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
            server_pwd.to_owned(),
            provider.crypto(),
        )),
        Box::new(FINGERPRINT),
    ];
    m.build(&setters).unwrap();
    let mut frame = (m.raw.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&m.raw);
    frame
}

async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut frame = vec![0; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut frame).await.unwrap();
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_over_tcp_is_answered_and_the_connection_ends_with_its_peer() {
    let server = TestServer::start().await;
    let (location, answer) = publish(&server, "tcp-only").await;
    let candidate = tcp_candidate(&answer).expect("a passive TCP candidate in the answer");
    assert_eq!(
        candidate.port(),
        server.server.tcp_addrs[0].port(),
        "on the ICE-TCP port"
    );
    assert_ne!(candidate.port(), 0);
    let (ufrag, pwd) = (
        attribute(&answer, "ice-ufrag"),
        attribute(&answer, "ice-pwd"),
    );

    let mut stream = TcpStream::connect(candidate).await.unwrap();
    stream.write_all(&framed_check(ufrag, pwd)).await.unwrap();
    // rtc-ice's agent also sends a check of its own on the pair (a triggered check): skip it.
    let answer = async {
        loop {
            let mut message = Message::new();
            message.raw = read_frame(&mut stream).await;
            message.decode().unwrap();
            if message.typ == BINDING_SUCCESS {
                return message;
            }
            assert_eq!(message.typ, BINDING_REQUEST, "{message}");
        }
    };
    let mut response = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("an answer over the same connection");
    let provider = rtc::crypto::default_provider().unwrap();
    MessageIntegrity::check(&mut response, pwd.as_bytes(), provider.crypto())
        .expect("signed with the server's ICE password");
    let mut mapped = XorMappedAddress::default();
    mapped.get_from(&response).unwrap();
    let local = stream.local_addr().unwrap();
    assert_eq!((mapped.ip, mapped.port), (local.ip(), local.port()));
    assert_eq!(
        metric(&server.base_url, "parley_tcp_connections").await,
        1.0
    );

    // The publisher leaves: its connection's TCP connection is closed by the node.
    let deleted = reqwest::Client::new()
        .delete(&location)
        .bearer_auth(server.token("obs", "tcp-only", publisher_grants()))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("closed by the node")
        .unwrap();
    let closed = r#"parley_tcp_connections_closed_total{reason="closed"}"#;
    assert_eq!(metric(&server.base_url, closed).await, 1.0);
    assert_eq!(
        metric(&server.base_url, "parley_tcp_connections").await,
        0.0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ice_tcp_off_no_tcp_candidate_is_offered() {
    let server = TestServer::start_with(|args| args.ice_tcp = Some(false)).await;
    let (_, answer) = publish(&server, "udp-only").await;
    assert_eq!(tcp_candidate(&answer), None, "{answer}");
    assert!(answer.contains(" udp "), "{answer}");
    assert!(server.server.tcp_addrs.is_empty());
    server.stop().await;
}
