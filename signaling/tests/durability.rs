//! Acked means stored: the `parley` process is killed with SIGKILL while three people send
//! messages; after a restart on the same data, every message whose ack a sender received is
//! there exactly once, sequence numbers are gapless, and resending what was in flight (same
//! client message ids) adds each at most once. Runs on the embedded SQLite default, and on
//! PostgreSQL too (PARLEY_TEST_POSTGRES_URL, else the local test database; never skipped).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use signaling::auth::{Grants, TokenAuthority};
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "durability-test-secret-0123456789abcdef";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn spawn_server(data_dir: &Path, http_port: u16, database: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args(["serve", "--http-addr", &format!("127.0.0.1:{http_port}")])
        .args(["--udp-port", &free_port().to_string(), "--tcp-port", "0"])
        .args([
            "--public-ip",
            "127.0.0.1",
            "--peer-allowlist",
            "127.0.0.0/8",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("PARLEY_JWT_SECRET", SECRET)
        .env_remove("PARLEY_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database {
        command.args(["--database-url", url]);
    }
    command.spawn().expect("parley starts")
}

fn token(identity: &str) -> String {
    TokenAuthority::new(SECRET.as_bytes())
        .mint(
            identity,
            identity,
            "lobby",
            Grants::participant(),
            Duration::from_secs(600),
        )
        .expect("mint")
}

/// Connects (retrying while the server starts) and says hello.
async fn connect(port: u16, identity: &str) -> Socket {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut socket = loop {
        match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await {
            Ok((socket, _)) => break socket,
            Err(err) if Instant::now() > deadline => panic!("server never came up: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let reply = request(
        &mut socket,
        json!({"type": "hello", "id": "h", "version": 1, "token": token(identity)}),
    )
    .await
    .expect("hello answered");
    assert_eq!(reply["type"], "welcome", "{reply}");
    socket
}

/// Sends a request and returns its reply (events in between are skipped); `None` if the
/// connection broke first.
async fn request(socket: &mut Socket, message: Value) -> Option<Value> {
    let id = message["id"].as_str()?.to_owned();
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .ok()?;
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(text.as_str()).ok()?;
            if value["reply_to"] == id.as_str() {
                return Some(value);
            }
        }
    }
    None
}

async fn run(database: Option<&str>) {
    let data_dir = std::env::temp_dir().join(format!(
        "parley-durability-{}-{}",
        std::process::id(),
        database.map_or("sqlite", |_| "postgres")
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let port = free_port();
    let mut server = spawn_server(&data_dir, port, database);
    let mut ana = connect(port, "ana").await;
    let created = request(
        &mut ana,
        json!({"type": "chat_create", "id": "c", "kind": "group", "with": ["ben", "cy"]}),
    )
    .await
    .unwrap();
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();

    // client id → seq, for every ack a sender received; and every id it tried.
    let acked: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let tried: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut senders = Vec::new();
    for identity in ["ana", "ben", "cy"] {
        let mut socket = connect(port, identity).await;
        let (acked, tried, conversation) = (acked.clone(), tried.clone(), conversation.clone());
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                let client_msg_id = format!("{identity}-{n}");
                tried.lock().unwrap().insert(client_msg_id.clone());
                let reply = request(
                    &mut socket,
                    json!({"type": "chat_send", "id": format!("s{n}"), "conversation": conversation,
                           "client_msg_id": client_msg_id, "text": format!("{identity} says {n}")}),
                )
                .await;
                match reply {
                    Some(reply) if reply["type"] == "chat_ack" => {
                        let seq = reply["message"]["seq"].as_i64().unwrap();
                        acked.lock().unwrap().insert(client_msg_id, seq);
                        n += 1;
                    }
                    // Slowed down: pace like a client would, then resend the same message.
                    Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    None => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL");
    let _ = server.wait();
    for sender in senders {
        let _ = tokio::time::timeout(Duration::from_secs(10), sender).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 10,
        "too few messages before the kill: {}",
        acked.len()
    );

    let mut server = spawn_server(&data_dir, port, database);
    let mut reader = connect(port, "ana").await;
    // Resend everything that was tried: acked ones must come back as duplicates, in-flight
    // ones are stored at most once.
    let mut sockets = BTreeMap::new();
    for identity in ["ana", "ben", "cy"] {
        sockets.insert(identity, connect(port, identity).await);
    }
    let tried = tried.lock().unwrap().clone();
    for (n, client_msg_id) in tried.into_iter().enumerate() {
        let sender = client_msg_id.split('-').next().unwrap();
        let socket = sockets.get_mut(sender).unwrap();
        let reply = loop {
            let reply = request(
                socket,
                json!({"type": "chat_send", "id": format!("r{n}"), "conversation": conversation,
                       "client_msg_id": client_msg_id, "text": "resent"}),
            )
            .await
            .unwrap();
            if reply["code"] != "rate_limited" {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(reply["type"], "chat_ack", "{reply}");
        if let Some(seq) = acked.get(&client_msg_id) {
            assert_eq!(
                reply["duplicate"], true,
                "{client_msg_id} was acked before the kill"
            );
            assert_eq!(reply["message"]["seq"].as_i64(), Some(*seq));
        }
    }
    let mut after = 0;
    let mut stored: Vec<(i64, String)> = Vec::new();
    loop {
        let page = request(
            &mut reader,
            json!({"type": "chat_history", "id": format!("p{after}"), "conversation": conversation,
                   "after": after, "limit": 200}),
        )
        .await
        .unwrap();
        let messages = page["messages"].as_array().unwrap().clone();
        if messages.is_empty() {
            break;
        }
        for m in &messages {
            stored.push((
                m["seq"].as_i64().unwrap(),
                m["client_msg_id"].as_str().unwrap().to_owned(),
            ));
        }
        after = stored.last().unwrap().0;
    }
    let seqs: Vec<i64> = stored.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "gapless"
    );
    let ids: BTreeSet<&String> = stored.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), stored.len(), "no client message id twice");
    for (client_msg_id, seq) in &acked {
        assert!(
            stored.contains(&(*seq, client_msg_id.clone())),
            "acked {client_msg_id} (seq {seq}) is missing after the crash"
        );
    }
    println!(
        "MEASURED: {} acked before SIGKILL, {} stored after restart and resend ({})",
        acked.len(),
        stored.len(),
        database.map_or("sqlite", |_| "postgres")
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_messages_survive_sigkill_on_sqlite() {
    run(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_messages_survive_sigkill_on_postgres() {
    // Never skipped: scripts/test.sh starts PostgreSQL and sets the URL.
    let url = std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    run(Some(&url)).await;
}
