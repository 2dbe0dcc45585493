//! Shared harness for the end-to-end tests: a real Parley server on ephemeral ports (HTTP on
//! 127.0.0.1:0, media on one UDP port picked by the OS, loopback only), plus raw WebSocket
//! helpers for protocol-level tests.

pub mod cluster;
pub mod coturn;

use futures_util::{SinkExt, StreamExt};
use signaling::auth::Grants;
use signaling::config::{Config, ServeArgs};
use signaling::Server;
use std::path::PathBuf;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub const SECRET: &str = "e2e-test-secret-e2e-test-secret-0123456789";

pub struct TestServer {
    pub server: Server,
    pub base_url: String,
    pub ws_url: String,
    data_dir: PathBuf,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the test defaults, then lets the caller change any setting.
    pub async fn start_with(customize: impl FnOnce(&mut ServeArgs)) -> Self {
        let data_dir = std::env::temp_dir().join(format!(
            "parley-e2e-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let mut args = ServeArgs {
            http_addr: Some("127.0.0.1:0".parse().unwrap()),
            udp_port: Some(0),
            tcp_port: Some(0),
            public_ip: Some(vec!["127.0.0.1".parse().unwrap()]),
            peer_allowlist: Some(vec!["127.0.0.0/8".into()]),
            data_dir: Some(data_dir.clone()),
            jwt_secret: Some(SECRET.into()),
            ..Default::default()
        };
        customize(&mut args);
        let data_dir = args.data_dir.clone().unwrap_or(data_dir);
        let config = Config::resolve(args).expect("test config");
        let server = Server::start(config).await.expect("server starts");
        let base_url = format!("http://{}", server.http_addr);
        let ws_url = format!("ws://{}/ws", server.http_addr);
        Self {
            server,
            base_url,
            ws_url,
            data_dir,
        }
    }

    pub fn token(&self, identity: &str, room: &str, grants: Grants) -> String {
        self.server
            .tokens()
            .mint(identity, identity, room, grants, Duration::from_secs(600))
            .expect("mint")
    }

    /// Where this server keeps its database and attachment files.
    /// A server-API token for the app's backend (identity `backend`, the `admin` grant).
    pub fn admin_token(&self) -> String {
        let grants = Grants {
            admin: true,
            ..Default::default()
        };
        self.token("backend", "-", grants)
    }

    /// A chat device of `identity` (a participant token for the room `lobby`).
    pub async fn chat_device(&self, identity: &str) -> loadtest::chatter::Chatter {
        let token = self.token(identity, "lobby", Grants::participant());
        loadtest::chatter::Chatter::connect(&self.ws_url, &token)
            .await
            .expect("a chat device connects")
    }

    /// `GET /api/rooms` with the server-API token: every room, as the API lists them.
    pub async fn rooms(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/api/rooms", self.base_url))
            .bearer_auth(self.admin_token())
            .send()
            .await
            .expect("GET /api/rooms")
            .json()
            .await
            .expect("a room list")
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub(crate) fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A bare WebSocket for sending exactly the bytes a test wants.
pub struct RawSocket {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawSocket {
    pub async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Self { socket }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.socket
            .send(Message::Text(text.into().into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    /// The next JSON text message (skipping nothing: events count too).
    pub async fn recv(&mut self) -> serde_json::Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("reply within 10 s")
                .expect("socket open")
                .expect("frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("json"),
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Sends `text` and returns the reply, skipping server events (frames without reply_to
    /// that are not errors).
    pub async fn request(&mut self, text: impl Into<String>) -> serde_json::Value {
        self.send_text(text).await;
        self.reply().await
    }

    pub async fn reply(&mut self) -> serde_json::Value {
        loop {
            let message = self.recv().await;
            if message.get("reply_to").is_some() || message["type"] == "error" {
                return message;
            }
        }
    }

    /// Reads until the server closes; returns its Close frame's reason (`None`: no frame).
    pub async fn closed(&mut self) -> Option<String> {
        while let Some(frame) = self.socket.next().await {
            match frame {
                Ok(Message::Close(frame)) => return frame.map(|f| f.reason.to_string()),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// Closes with a close handshake, as a client that leaves on purpose does.
    pub async fn close(&mut self) {
        let _ = self.socket.close(None).await;
    }

    pub async fn hello(&mut self, token: &str) -> serde_json::Value {
        self.request(
            serde_json::json!({"type": "hello", "id": "hello", "version": 1, "token": token})
                .to_string(),
        )
        .await
    }
}

/// One m-line of a hand-written offer: kind, direction, rtpmaps, extra attribute lines.
pub type MLine<'a> = (&'a str, &'a str, &'a [(u8, &'a str)], &'a [&'a str]);

/// A hand-written offer: the session part any WebRTC client sends, then its m-lines.
pub fn offer_sdp(media: &[MLine<'_>]) -> String {
    let mut sdp = String::from("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    let mids: Vec<String> = (0..media.len()).map(|i| i.to_string()).collect();
    sdp.push_str(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
    for (i, (kind, direction, rtpmaps, extra)) in media.iter().enumerate() {
        let pts: Vec<String> = rtpmaps.iter().map(|(pt, _)| pt.to_string()).collect();
        sdp.push_str(&format!(
            "m={kind} 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 {}\r\na=setup:actpass\r\na=mid:{i}\r\na=rtcp-mux\r\na={direction}\r\n",
            pts.join(" "),
            ["AB"; 32].join(":"),
        ));
        for (pt, map) in rtpmaps.iter() {
            sdp.push_str(&format!("a=rtpmap:{pt} {map}\r\n"));
        }
        for line in extra.iter() {
            sdp.push_str(&format!("{line}\r\n"));
        }
    }
    sdp
}

/// A WHIP publisher's grants: join and publish.
pub fn publisher_grants() -> Grants {
    Grants {
        join: true,
        publish: true,
        ..Default::default()
    }
}

/// A viewer's grants: watching over WHEP (its own grant), or join and subscribe on the
/// WebSocket.
pub fn viewer_grants() -> Grants {
    Grants {
        join: true,
        subscribe: true,
        watch: true,
        ..Default::default()
    }
}

/// One metric's value from the server's `/metrics` at `base` (0 when absent).
pub async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// This process's resident memory (the in-process server's included), from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split(' ')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Waits until `subscriber` has received at least `packets` packets of each of the publisher's
/// two tracks (audio and video); returns its view then.
pub async fn two_tracks_flowing(
    subscriber: &loadtest::SyntheticClient,
    publisher_sid: &str,
    packets: u64,
    within: Duration,
) -> Result<loadtest::RoomView, loadtest::ClientError> {
    let sid = publisher_sid.to_owned();
    subscriber
        .wait_until("two tracks flowing", within, move |v| {
            v.participants.get(&sid).is_some_and(|p| {
                p.tracks.len() == 2
                    && p.tracks
                        .iter()
                        .all(|t| v.received.get(&t.sid).is_some_and(|r| r.packets >= packets))
            })
        })
        .await
}

/// A subscriber's receipt of one of `publication`'s tracks, received after the publisher
/// stopped: every payload intact and of this track, in order, nothing lost from the first
/// packet forwarded (a video keyframe) to the last one sent, contiguous sequence numbers.
pub fn assert_intact(r: &loadtest::TrackReceipt, publication: &loadtest::client::Publication) {
    assert_contiguous(r, publication);
    if r.kind == Some(loadtest::media::Kind::Video) {
        let first = r.first_index.expect("packets received");
        assert!(
            loadtest::media::plan(loadtest::media::Kind::Video, first).keyframe_start,
            "video starts at a keyframe: {r:?}"
        );
    }
}

/// Like [`assert_intact`], from whatever packet arrived first (not necessarily a keyframe).
pub fn assert_contiguous(r: &loadtest::TrackReceipt, publication: &loadtest::client::Publication) {
    use loadtest::media::Kind;
    use std::sync::atomic::Ordering;
    let (tag, sent) = match r.kind.expect("a track of known kind") {
        Kind::Audio => (publication.audio_tag, &publication.audio_sent),
        Kind::Video => (publication.video_tag, &publication.video_sent),
    };
    let sent = sent.load(Ordering::Relaxed);
    assert_eq!(r.corrupted, 0, "{r:?}");
    assert_eq!(
        r.tags.iter().copied().collect::<Vec<_>>(),
        vec![tag],
        "{r:?}"
    );
    assert_eq!(
        (r.index_gaps, r.index_reorders),
        (0, 0),
        "in order, no loss: {r:?}"
    );
    assert_eq!(r.seq_discontinuities, 0, "contiguous RTP sequence: {r:?}");
    assert_eq!(
        r.last_index,
        Some(sent - 1),
        "nothing lost at the tail: {r:?}"
    );
    let first = r.first_index.expect("packets received");
    assert_eq!(r.packets, sent - first, "{r:?}");
}

/// `from`'s direct conversation with `to` (created, or the one they have): its id.
pub async fn direct(from: &loadtest::chatter::Chatter, to: &str) -> String {
    use signaling::protocol::chat::NewConversationKind;
    use signaling::protocol::{ClientMessage, ServerMessage};
    let reply = from
        .request(|id| ClientMessage::ChatCreate {
            id,
            kind: NewConversationKind::Direct,
            with: vec![to.into()],
            title: None,
        })
        .await
        .expect("chat_create");
    let ServerMessage::ChatConversation { conversation, .. } = reply else {
        panic!("{reply:?}")
    };
    conversation.id
}
