//! Attack: hold WebSocket connections open for free, or flood them. Through the real server:
//! a socket that never says hello is closed after 10 s, one that stops answering pings after
//! the idle timeout, binary frames count against the rate limit, and a client's Close frame is
//! answered with one (a clean closing handshake).

use futures_util::{SinkExt, StreamExt};
use parley_e2e::TestServer;
use serde_json::{json, Value};
use signaling::auth::Grants;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer) -> Socket {
    tokio_tungstenite::connect_async(&server.ws_url)
        .await
        .unwrap()
        .0
}

/// Reads until the server closes (within `limit`): the close code it sent, if any, and the JSON
/// messages before it.
async fn until_closed(socket: &mut Socket, limit: Duration) -> (Option<u16>, Vec<Value>) {
    let mut messages = Vec::new();
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => panic!("still open after {limit:?}"),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (frame.map(|f| u16::from(f.code)), messages)
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                messages.push(serde_json::from_str(&text).unwrap())
            }
            Ok(Some(Ok(_))) => continue,
            Ok(None | Some(Err(_))) => return (None, messages),
        }
    }
}

async fn hello(server: &TestServer, socket: &mut Socket) {
    let token = server.token("ana", "r", Grants::participant());
    let hello = json!({"type": "hello", "id": "h", "version": 1, "token": token});
    socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(welcome))) = socket.next().await else {
        panic!("no welcome");
    };
    assert!(welcome.contains("welcome"), "{welcome}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_without_hello_is_closed() {
    let server = TestServer::start().await;
    let mut silent = connect(&server).await;
    let started = Instant::now();
    let (code, messages) = until_closed(&mut silent, Duration::from_secs(20)).await;
    assert_eq!(code, Some(1008), "{messages:?}");
    assert_eq!(
        messages.first().map(|m| m["code"].clone()),
        Some(json!("not_authenticated"))
    );
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_pinged_then_closed_floods_are_limited_and_closes_are_clean() {
    let server = TestServer::start_with(|args| args.ws_idle_timeout_secs = Some(3)).await;
    // A client that stopped reading (and so answers no ping) is closed after the idle timeout.
    let mut idle = connect(&server).await;
    hello(&server, &mut idle).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (code, _) = until_closed(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(code, Some(1001));

    // A live client answers pings (the library does) and stays.
    let mut live = connect(&server).await;
    hello(&server, &mut live).await;
    let reading = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = live.next().await {
            assert!(
                !matches!(frame, Message::Close(_)),
                "a live client was closed"
            );
        }
    });
    assert!(
        reading.await.is_err(),
        "the connection stayed open, answering pings"
    );

    // Binary frames count against the rate limit like text.
    let mut flood = connect(&server).await;
    hello(&server, &mut flood).await;
    for _ in 0..300 {
        flood
            .send(Message::Binary(vec![0u8; 16].into()))
            .await
            .unwrap();
    }
    let mut limited = 0;
    for _ in 0..300 {
        let Some(Ok(Message::Text(text))) = flood.next().await else {
            panic!("closed during the flood");
        };
        limited += usize::from(text.contains("rate_limited"));
    }
    assert!(
        limited >= 50,
        "{limited} of 300 binary frames were rate limited"
    );

    // A client's Close frame gets the server's Close back before the TCP close.
    let mut closing = connect(&server).await;
    let frame = CloseFrame {
        code: 1000.into(),
        reason: "bye".into(),
    };
    closing.send(Message::Close(Some(frame))).await.unwrap();
    let (code, _) = until_closed(&mut closing, Duration::from_secs(5)).await;
    assert_eq!(code, Some(1000), "the closing handshake is completed");
    server.stop().await;
}
