//! Attack: hold the server with bare HTTP. Through the real server: sockets that never send a
//! request head are closed after the header deadline; past the connection cap new sockets are
//! closed at once; uploads are refused on their headers (no token, too large) before any body
//! byte is read, and a body that grows past the limit while streaming is cut off with nothing
//! left on disk. Thirty unauthenticated 10 MiB uploads do not grow the server's memory.

use parley_e2e::{metric, rss_bytes, TestServer};
use signaling::auth::Grants;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Has the server closed `socket` (EOF or reset) within `within`?
async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 512];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// The status line's code of the response that arrives within 5 s on `socket`.
async fn status_of(socket: &mut TcpStream) -> u16 {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !buffer.windows(2).any(|w| w == b"\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, socket.read(&mut chunk))
            .await
            .expect("a response within 5 s, before the body was sent")
            .unwrap();
        assert!(n > 0, "closed without a response");
        buffer.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buffer);
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

fn upload_head(addr: std::net::SocketAddr, token: Option<&str>, length: u64) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /api/conversations/c-1/attachments?filename=x.png HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: image/png\r\nContent-Length: {length}\r\n{auth}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_are_closed_and_the_connection_cap_holds() {
    let server = TestServer::start_with(|args| args.max_connections = Some(20)).await;
    let addr = server.server.http_addr;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    // The 21st is over the cap: closed at once.
    let mut over = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut over, Duration::from_secs(2)).await,
        "over the cap"
    );
    // The silent ones never send a request head: closed after the header deadline.
    let started = Instant::now();
    for socket in &mut silent {
        let deadline = signaling::listener::HEADER_READ_TIMEOUT + Duration::from_secs(5);
        assert!(
            closed_within(socket, deadline).await,
            "silent socket still open"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8),
        "closed too early ({took:?})"
    );
    let base = &server.base_url;
    assert!(metric(base, "parley_http_connections_refused_total").await >= 1.0);
    // Only the scrape's own connection is open.
    assert!(metric(base, "parley_http_connections").await <= 2.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_refused_on_their_headers_and_cut_off_while_streaming() {
    let server = TestServer::start().await;
    let addr = server.server.http_addr;
    let chatter = server.token("chatter", "r", Grants::participant());

    // No token: refused before a single body byte is sent.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(upload_head(addr, None, 10 << 20).as_bytes())
        .await
        .unwrap();
    assert_eq!(status_of(&mut socket).await, 401);
    // A declared length over the limit: refused on the headers too.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(upload_head(addr, Some(&chatter), 11 << 20).as_bytes())
        .await
        .unwrap();
    assert_eq!(status_of(&mut socket).await, 413);

    // Thirty unauthenticated 10 MiB uploads pushing their bodies at once: each is refused on
    // its headers, so the server holds none of the 300 MiB.
    let before = rss_bytes();
    let mut pushes = Vec::new();
    for _ in 0..30 {
        pushes.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            let _ = socket
                .write_all(upload_head(addr, None, 10 << 20).as_bytes())
                .await;
            let chunk = vec![0u8; 64 * 1024];
            for _ in 0..160 {
                if socket.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }));
    }
    for push in pushes {
        let _ = tokio::time::timeout(Duration::from_secs(20), push).await;
    }
    let grown = rss_bytes().saturating_sub(before);
    eprintln!(
        "30 unauthenticated 10 MiB uploads: RSS grew by {} KiB",
        grown >> 10
    );
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);

    // A chunked body (no declared length) that passes the limit while streaming: 413, and no
    // partial file stays behind.
    let conversation = {
        let mut ws = parley_e2e::RawSocket::connect(&server.ws_url).await;
        ws.hello(&chatter).await;
        let created = ws
            .request(
                serde_json::json!({"type": "chat_create", "id": "c", "kind": "group", "with": ["bob"]})
                    .to_string(),
            )
            .await;
        created["conversation"]["id"].as_str().unwrap().to_owned()
    };
    let mut body = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    body.resize((10 << 20) + 1, 0);
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/conversations/{conversation}/attachments?filename=big.png",
            server.base_url
        ))
        .bearer_auth(&chatter)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            body.chunks(256 * 1024)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )))
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
    let attachments = server.data_dir().join("attachments");
    let left: Vec<_> = std::fs::read_dir(&attachments)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left on disk: {left:?}");
    server.stop().await;
}
