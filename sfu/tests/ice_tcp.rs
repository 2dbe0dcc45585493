//! The ICE-TCP port against clients that are not ICE clients: garbage, a peer that never sends
//! STUN, one that never completes a frame (slow loris), oversized frames, checks for a
//! connection the node does not have, too many unanswered connections from one address and
//! addresses outside the allow-list. Each is closed and counted by reason. On tokio's paused
//! clock, so the deadlines pass at once.

use sfu::driver::{spawn_with, TcpDeadlines, MAX_UNANSWERED_PER_IP};
use sfu::{SfuConfig, SfuHandle, TcpRefusal};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn node(allowlist: &[&str]) -> (SfuHandle, SocketAddr) {
    let config = SfuConfig {
        udp_port: 0,
        tcp_port: Some(0),
        peer_allowlist: allowlist.iter().map(|n| n.parse().unwrap()).collect(),
        workers: 1,
        ..Default::default()
    };
    let handle = spawn_with(config, TcpDeadlines::default()).await.unwrap();
    let addr = handle.tcp_addrs()[0];
    (handle, addr)
}

/// Reads until the node closes the connection; what it sent meanwhile.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap_or_default();
    got
}

/// A STUN Binding request (RFC 5389 header, one USERNAME attribute), framed (RFC 4571).
fn framed_binding_request(username: &str) -> Vec<u8> {
    let mut attr = Vec::new();
    attr.extend_from_slice(&0x0006u16.to_be_bytes());
    attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
    attr.extend_from_slice(username.as_bytes());
    while attr.len() % 4 != 0 {
        attr.push(0);
    }
    let mut message = vec![0x00, 0x01];
    message.extend_from_slice(&(attr.len() as u16).to_be_bytes());
    message.extend_from_slice(&0x2112_A442u32.to_be_bytes());
    message.extend_from_slice(&[7; 12]);
    message.extend_from_slice(&attr);
    let mut frame = (message.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&message);
    frame
}

#[tokio::test(start_paused = true)]
async fn what_is_not_ice_is_closed_and_counted() {
    let (handle, addr) = node(&[]).await;
    #[rustfmt::skip]
    let cases: [(&str, Vec<u8>, TcpRefusal); 5] = [
        ("an HTTP request (its first bytes read as a 18245-byte frame)", b"GET / HTTP/1.1\r\n\r\n".to_vec(), TcpRefusal::Oversized),
        ("a frame that is not STUN",                                      vec![0, 4, 0xde, 0xad, 0xbe, 0xef], TcpRefusal::NotStun),
        ("a check for a connection the node does not have",               framed_binding_request("nosuchufrag:abcd"), TcpRefusal::NotStun),
        ("nothing at all",                                                Vec::new(), TcpRefusal::Timeout),
        ("half a frame, never finished (slow loris)",                     vec![0, 100, 0, 1, 0, 0], TcpRefusal::Timeout),
    ];
    for (name, bytes, reason) in cases {
        let before = handle.stats().tcp.refused(reason);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let started = tokio::time::Instant::now();
        let answer = until_closed(&mut stream).await;
        assert!(answer.is_empty(), "{name}: the node answered {answer:?}");
        assert_eq!(
            handle.stats().tcp.refused(reason),
            before + 1,
            "{name}: counted as {reason:?}"
        );
        let waited = started.elapsed();
        let deadline = TcpDeadlines::default().handshake;
        if reason == TcpRefusal::Timeout {
            assert!(waited >= deadline, "{name}: closed after {waited:?}");
        } else {
            assert!(
                waited < Duration::from_secs(1),
                "{name}: closed after {waited:?}"
            );
        }
    }
    assert_eq!(
        handle
            .stats()
            .tcp
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn one_address_cannot_hold_more_than_its_share_of_unanswered_connections() {
    let (handle, addr) = node(&[]).await;
    let mut held = Vec::new();
    for _ in 0..MAX_UNANSWERED_PER_IP {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut over = TcpStream::connect(addr).await.unwrap();
    let started = tokio::time::Instant::now();
    until_closed(&mut over).await;
    assert!(started.elapsed() < Duration::from_secs(1), "closed at once");
    assert_eq!(handle.stats().tcp.refused(TcpRefusal::Limit), 1);
    // The held ones run out their handshake deadline and free their places.
    for mut stream in held {
        until_closed(&mut stream).await;
    }
    assert_eq!(
        handle.stats().tcp.refused(TcpRefusal::Timeout),
        MAX_UNANSWERED_PER_IP as u64
    );
    let mut again = TcpStream::connect(addr).await.unwrap();
    again.write_all(&[0, 4, 1, 2, 3, 4]).await.unwrap();
    until_closed(&mut again).await;
    assert_eq!(
        handle.stats().tcp.refused(TcpRefusal::NotStun),
        1,
        "admitted again"
    );
    handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn addresses_outside_the_allowlist_are_refused() {
    let (handle, addr) = node(&["10.0.0.0/8"]).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    until_closed(&mut stream).await;
    assert_eq!(handle.stats().tcp.refused(TcpRefusal::NotAllowed), 1);
    handle.shutdown().await;
}
