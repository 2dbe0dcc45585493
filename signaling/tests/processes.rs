//! Several nodes as separate `parley` processes (one PostgreSQL database, the test command's
//! NATS): a room's node killed with SIGKILL, then another stopped with SIGTERM; each time the
//! participants whose sockets are on the surviving nodes are told to rejoin (`goodbye
//! migrate`) and are back in one room on a live node, and chat acked by the killed node is all
//! there after a catch-up. How long that takes is printed.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use signaling::auth::{Grants, TokenAuthority};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "processes-test-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(20);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

/// A database of this test's own, dropped at the end.
struct Database {
    server: String,
    name: String,
}

impl Database {
    fn fresh() -> Self {
        let base = env_or(
            "PARLEY_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        );
        let (server, _) = base.rsplit_once('/').expect("a database URL");
        let db = Self {
            server: server.to_owned(),
            name: format!("parley_processes_{}", uuid::Uuid::new_v4().simple()),
        };
        db.psql(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn psql(&self, sql: &str) {
        let status = Command::new("psql")
            .arg(format!("{}/postgres", self.server))
            .args(["-qc", sql])
            .status()
            .expect("psql is needed (scripts/test.sh installs PostgreSQL)");
        assert!(status.success(), "{sql}");
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(format!("{}/postgres", self.server))
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .status();
    }
}

/// One `parley` process, killed on drop.
struct Node {
    child: Child,
    base: String,
    ws: String,
    dir: std::path::PathBuf,
}

impl Node {
    async fn start(id: &str, db: &Database, cluster: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("parley-processes-{cluster}-{id}"));
        let child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(["serve", "--http-addr", &format!("127.0.0.1:{port}")])
            .args([
                "--udp-port",
                "0",
                "--tcp-port",
                "0",
                "--public-ip",
                "127.0.0.1",
            ])
            .args(["--database-url", &format!("{}/{}", db.server, db.name)])
            .args([
                "--nats-url",
                &env_or("PARLEY_TEST_NATS_URL", "nats://127.0.0.1:4222"),
            ])
            .args(["--node-id", id, "--cluster-name", cluster])
            .arg("--data-dir")
            .arg(&dir)
            .env("PARLEY_JWT_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("parley starts");
        let node = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            ws: format!("ws://127.0.0.1:{port}/ws"),
            dir,
        };
        let deadline = Instant::now() + WAIT;
        while reqwest::get(format!("{}/healthz", node.base))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "node {id} did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        node
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = match reqwest::get(format!("{}/metrics", self.base)).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    async fn hears(&self, nodes: f64) {
        let deadline = Instant::now() + WAIT;
        while self.metric("parley_cluster_nodes").await != nodes {
            assert!(
                Instant::now() < deadline,
                "{} does not hear {nodes} nodes",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON message; `None` once the server closed the socket.
async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time");
        match frame {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).ok(),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn request(socket: &mut Socket, message: Value) -> Value {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
    loop {
        let reply = next(socket).await.expect("a reply");
        if reply.get("reply_to").is_some() || reply["type"] == "error" {
            return reply;
        }
    }
}

/// `identity`'s socket on `node`, in `room`.
async fn in_room(node: &Node, identity: &str, room: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(node.ws.as_str())
        .await
        .unwrap();
    let token = TokenAuthority::new(SECRET.as_bytes())
        .mint(
            identity,
            identity,
            room,
            Grants::participant(),
            Duration::from_secs(600),
        )
        .unwrap();
    let hello = json!({"type": "hello", "id": "h", "version": 1, "token": token});
    assert_eq!(request(&mut socket, hello).await["type"], "welcome");
    let joined = request(
        &mut socket,
        json!({"type": "join", "id": "j", "room": room}),
    )
    .await;
    assert_eq!(
        joined["type"], "joined",
        "{identity} on {}: {joined}",
        node.base
    );
    socket
}

/// Reads until the server's goodbye; returns its reason.
async fn goodbye(socket: &mut Socket) -> String {
    while let Some(message) = next(socket).await {
        if message["type"] == "goodbye" {
            return message["reason"].as_str().unwrap_or_default().to_owned();
        }
    }
    panic!("the socket closed without a goodbye");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_node_killed_then_another_stopped_its_people_rejoin_on_a_live_node() {
    let db = Database::fresh();
    let cluster = format!("procs{}", uuid::Uuid::new_v4().simple());
    let mut nodes = vec![
        Node::start("k1", &db, &cluster).await,
        Node::start("k2", &db, &cluster).await,
        Node::start("k3", &db, &cluster).await,
    ];
    for node in &nodes {
        node.hears(3.0).await;
    }
    // The room is on node 1 (its first participant's); the others' sockets are relayed there.
    let mut ana = in_room(&nodes[0], "ana", "ward").await;
    let mut ben = in_room(&nodes[1], "ben", "ward").await;
    let mut cy = in_room(&nodes[2], "cy", "ward").await;
    assert_eq!(nodes[0].metric("parley_participants").await, 3.0);
    // Ana chats with Ben from the node about to die: what was acked is kept.
    let create = json!({"type": "chat_create", "id": "c", "kind": "direct", "with": ["ben"]});
    let conversation = request(&mut ana, create).await["conversation"]["id"].clone();
    let mut acked = Vec::new();
    for n in 0..3 {
        let send = json!({"type": "chat_send", "id": format!("s{n}"), "conversation": conversation,
            "client_msg_id": format!("m{n}"), "text": format!("before the crash {n}")});
        let ack = request(&mut ana, send).await;
        assert_eq!(ack["type"], "chat_ack", "{ack}");
        acked.push(ack["message"]["id"].clone());
    }

    // SIGKILL: nobody says goodbye for node 1; the others notice its silence.
    let killed = Instant::now();
    nodes[0].signal("KILL");
    assert_eq!(goodbye(&mut ben).await, "migrate");
    assert_eq!(goodbye(&mut cy).await, "migrate");
    let told = killed.elapsed();
    let mut ben = in_room(&nodes[1], "ben", "ward").await;
    let mut cy = in_room(&nodes[2], "cy", "ward").await;
    let back = killed.elapsed();
    // Ben's catch-up on his new socket has every message Ana's dead node acked.
    let cursor = json!({"conversation": conversation, "after_seq": 0});
    let sync = request(
        &mut ben,
        json!({"type": "chat_sync", "id": "y", "cursors": [cursor]}),
    )
    .await;
    let synced: Vec<Value> = sync["batches"][0]["messages"]
        .as_array()
        .map(|m| m.iter().map(|m| m["id"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(synced, acked, "{sync}");
    assert_eq!(
        nodes[1].metric("parley_participants").await,
        2.0,
        "one room, on node 2"
    );
    eprintln!("SIGKILL of the room's node: told to rejoin after {told:?}, both back in one room after {back:?}");

    // SIGTERM (no drain timeout): node 2 ends its claims and tells everyone to rejoin.
    let stopped = Instant::now();
    nodes[1].signal("TERM");
    assert_eq!(goodbye(&mut cy).await, "migrate");
    let _cy = in_room(&nodes[2], "cy", "ward").await;
    let back = stopped.elapsed();
    // Told by the stopping node itself, not by the others noticing its silence (6 s and more):
    // its last messages reached NATS before it exited.
    assert!(
        back < Duration::from_secs(5),
        "the goodbye came from the silence: {back:?}"
    );
    assert_eq!(
        nodes[2].metric("parley_participants").await,
        1.0,
        "on node 3"
    );
    eprintln!("SIGTERM of the room's node: back in the room on a live node after {back:?}");
    let status = nodes[1].child.wait().unwrap();
    assert!(status.success(), "node 2 stopped cleanly: {status}");
    nodes.clear();
}
