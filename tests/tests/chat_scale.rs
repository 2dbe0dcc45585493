//! Chat under pressure, through the real server: every device receives a conversation's
//! messages in seq order while its members send concurrently (SQLite and PostgreSQL); a device
//! that stops reading is cut off with `resync_required` without holding up the others; idle
//! connections do not grow; WebSocket sockets run without Nagle and with a small kernel send
//! buffer. Speed and memory figures are benchmarks (`parley-loadtest chat`), not asserted here.

use futures_util::{SinkExt, StreamExt};
use loadtest::chatter::Chatter;
use parley_e2e::{metric, rss_bytes, TestServer};
use signaling::auth::Grants;
use signaling::protocol::chat::{ChatMessage, NewConversationKind};
use signaling::protocol::{ClientMessage, ServerMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn postgres_url() -> String {
    std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn device(server: &TestServer, identity: &str) -> Arc<Chatter> {
    let token = server.token(identity, "chat-scale", Grants::participant());
    Arc::new(Chatter::connect(&server.ws_url, &token).await.unwrap())
}

/// A group created by `owner` with everyone in `with`; its id.
async fn create_group(owner: &Chatter, with: &[String]) -> String {
    let reply = owner
        .request(|id| ClientMessage::ChatCreate {
            id,
            kind: NewConversationKind::Group,
            with: with.to_vec(),
            title: Some("scale".into()),
        })
        .await
        .unwrap();
    let ServerMessage::ChatConversation { conversation, .. } = reply else {
        panic!("unexpected reply to chat_create: {reply:?}");
    };
    conversation.id
}

fn messages_in(device: &Chatter, conversation: &str) -> Vec<ChatMessage> {
    device
        .received_messages()
        .into_iter()
        .filter(|m| m.conversation == conversation)
        .collect()
}

/// 20 people with two devices each; every device sends 10 messages at once.
async fn concurrent_senders_arrive_in_seq_order(server: &TestServer) {
    let people: Vec<String> = (0..20).map(|_| unique("order")).collect();
    let mut devices = Vec::new();
    for person in &people {
        devices.push(device(server, person).await);
        devices.push(device(server, person).await);
    }
    let conversation = create_group(&devices[0], &people[1..]).await;
    let senders = devices.iter().map(|d| {
        let (d, conversation) = (d.clone(), conversation.clone());
        tokio::spawn(async move {
            let texts: Vec<String> = (0..10).map(|n| format!("m{n}")).collect();
            let sends = texts.iter().map(|text| d.send(&conversation, text));
            for sent in futures_util::future::join_all(sends).await {
                sent.unwrap();
            }
        })
    });
    for sender in senders.collect::<Vec<_>>() {
        sender.await.unwrap();
    }
    // Each device gets every message but its own ten (those are acknowledged instead).
    let expected = devices.len() * 10 - 10;
    for (n, d) in devices.iter().enumerate() {
        let conv = conversation.clone();
        d.wait_for("every message", Duration::from_secs(30), |events| {
            events
                .iter()
                .filter(|e| matches!(e, ServerMessage::ChatMessage { message } if message.conversation == conv))
                .count()
                >= expected
        })
        .await
        .unwrap_or_else(|_| {
            let got = messages_in(d, &conversation).len();
            panic!("device {n} received {got} of {expected}")
        });
        let seqs: Vec<i64> = messages_in(d, &conversation)
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs.len(), expected, "device {n}: no duplicates");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "device {n} received seqs out of order: {seqs:?}"
        );
    }
    for d in devices {
        d.close();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_receives_messages_in_seq_order_on_sqlite() {
    let server = TestServer::start().await;
    concurrent_senders_arrive_in_seq_order(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_receives_messages_in_seq_order_on_postgresql() {
    let server = TestServer::start_with(|args| args.database_url = Some(postgres_url())).await;
    concurrent_senders_arrive_in_seq_order(&server).await;
    server.stop().await;
}

type RawSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A WebSocket whose kernel receive buffer is tiny, so that when it stops reading the server
/// notices soon; said hello, got welcome.
async fn tiny_buffered_device(server: &TestServer, identity: &str) -> RawSocket {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.server.http_addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url.as_str(), stream)
        .await
        .unwrap();
    let token = server.token(identity, "chat-scale", Grants::participant());
    let hello = serde_json::json!({ "type": "hello", "id": "1", "version": 1, "token": token });
    ws.send(Message::text(hello.to_string())).await.unwrap();
    loop {
        let frame = ws.next().await.unwrap().unwrap();
        if frame.to_text().unwrap_or_default().contains("\"welcome\"") {
            return ws;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_stops_reading_is_cut_off_and_the_others_are_not_held_up() {
    let server = TestServer::start().await;
    let (reader_id, slow_id) = (unique("reader"), unique("slow"));
    let senders: Vec<String> = (0..4).map(|_| unique("sender")).collect();
    let owner = device(&server, &senders[0]).await;
    let mut with = vec![reader_id.clone(), slow_id.clone()];
    with.extend(senders[1..].iter().cloned());
    let conversation = create_group(&owner, &with).await;
    let reader = device(&server, &reader_id).await;
    let mut slow = tiny_buffered_device(&server, &slow_id).await;

    // About 1.2 MB of messages: more than the device queue's byte bound plus the socket buffers.
    let text = "x".repeat(15 * 1024);
    let mut bursts = Vec::new();
    for identity in &senders {
        let sender = device(&server, identity).await;
        let (conversation, text) = (conversation.clone(), text.clone());
        bursts.push(tokio::spawn(async move {
            for _ in 0..20 {
                sender.send(&conversation, &text).await.unwrap();
            }
            sender
        }));
    }
    for burst in bursts {
        burst.await.unwrap().close();
    }
    // The reader gets all 80 while the slow device's socket is stuck (its write deadline is
    // 10 s: a reader held up behind it would miss this).
    let conv = conversation.clone();
    reader
        .wait_for("the whole burst", Duration::from_secs(5), |events| {
            events
                .iter()
                .filter(|e| matches!(e, ServerMessage::ChatMessage { message } if message.conversation == conv))
                .count()
                == 80
        })
        .await
        .unwrap();
    let cutoffs = "parley_chat_device_cutoffs_total";
    assert_eq!(
        metric(&server.base_url, cutoffs).await,
        1.0,
        "the slow one only"
    );

    // Reading again, it finds what was queued, then resync_required, then the close.
    let mut resync = false;
    let drained = tokio::time::timeout(Duration::from_secs(8), async {
        while let Some(Ok(frame)) = slow.next().await {
            if frame
                .to_text()
                .unwrap_or_default()
                .contains("\"resync_required\"")
            {
                resync = true;
            }
        }
    });
    drained.await.expect("closed after the backlog");
    assert!(resync, "told to resync");
    // It comes back and catches up with chat_sync: nothing is lost.
    let back = device(&server, &slow_id).await;
    let reply = back
        .request(|id| ClientMessage::ChatSync {
            id,
            cursors: Vec::new(),
        })
        .await
        .unwrap();
    let ServerMessage::ChatSync { batches, .. } = reply else {
        panic!("unexpected reply to chat_sync: {reply:?}");
    };
    let batch = batches.iter().find(|b| b.conversation == conversation);
    assert_eq!(batch.unwrap().messages.len(), 80);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_grow_and_run_without_nagle() {
    // Pinged every few seconds, so idling exercises the liveness path.
    let server = TestServer::start_with(|args| args.ws_idle_timeout_secs = Some(6)).await;
    let owner_id = unique("idle");
    let owner = device(&server, &owner_id).await;
    let people: Vec<String> = (0..198).map(|_| unique("idle")).collect();
    let mut devices = vec![owner.clone()];
    for person in &people {
        devices.push(device(&server, person).await);
    }
    // Two groups: at most 100 members each.
    create_group(&owner, &people[..99]).await;
    create_group(&owner, &people[99..]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = rss_bytes();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = rss_bytes();
    let growth = later.saturating_sub(settled);
    assert!(
        growth < 2 * 1024 * 1024,
        "199 idle connections grew by {growth} bytes in 5 s"
    );
    assert_server_sockets_are_tuned(server.server.http_addr.port());
    for d in devices {
        d.close();
    }
    server.stop().await;
}

/// Every socket the server accepted on `port` (this process holds both ends) has `TCP_NODELAY`,
/// and the WebSockets have the small send buffer.
fn assert_server_sockets_are_tuned(port: u16) {
    use std::os::fd::BorrowedFd;
    let mut accepted = 0;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .map(|l| l.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor was open when listed and is only borrowed for these calls;
        // this test's sockets stay open until it ends.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        let has_peer = socket.peer_addr().is_ok();
        if local.map(|a| a.port()) != Some(port) || !has_peer {
            continue;
        }
        accepted += 1;
        assert!(
            socket.tcp_nodelay().unwrap(),
            "an accepted socket runs with Nagle"
        );
        // Linux reports twice what was asked for (bookkeeping overhead).
        assert!(socket.send_buffer_size().unwrap() <= 256 * 1024);
    }
    assert!(accepted >= 199, "found {accepted} of the server's sockets");
}
