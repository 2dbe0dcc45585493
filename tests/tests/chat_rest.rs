//! Chat's REST API through the real server: conversations and members, history with cursor
//! pagination, search, attachments (members-only download, size and type limits), and its
//! error shape.

use loadtest::chatter::Chatter;
use parley_e2e::TestServer;
use serde_json::{json, Value};
use signaling::auth::Grants;
use signaling::protocol::ClientMessage;

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn new(server: &TestServer) -> Self {
        Self {
            base: server.base_url.clone(),
            client: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

fn token(server: &TestServer, identity: &str) -> String {
    server.token(identity, "lobby", Grants::participant())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_history_pages_and_search() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (ana, ben, eve) = (
        token(&server, "ana"),
        token(&server, "ben"),
        token(&server, "eve"),
    );
    let (status, created) = api
        .call(
            &ana,
            reqwest::Method::POST,
            "/api/conversations",
            Some(json!({ "kind": "direct", "with": ["ben"] })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let conversation = created["id"].as_str().unwrap().to_owned();
    // The same pair from the other side is the same conversation.
    let (_, again) = api
        .call(
            &ben,
            reqwest::Method::POST,
            "/api/conversations",
            Some(json!({ "kind": "direct", "with": ["ana"] })),
        )
        .await;
    assert_eq!(again["id"], created["id"]);

    let sender = Chatter::connect(&server.ws_url, &ana).await.unwrap();
    for n in 1..=25 {
        let word = if n == 7 { "pineapple" } else { "banana" };
        sender
            .send(&conversation, &format!("message {n} {word}"))
            .await
            .unwrap();
    }
    let deleted = sender
        .send(&conversation, "secret pineapple")
        .await
        .unwrap();
    sender
        .request(|id| ClientMessage::ChatDelete {
            id,
            message: deleted.id.clone(),
        })
        .await
        .unwrap();

    // Newest page first, then older pages by cursor, until the beginning.
    let mut seqs = Vec::new();
    let mut path = format!("/api/conversations/{conversation}/messages?limit=10");
    loop {
        let (status, page) = api.call(&ben, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        let mut page_seqs: Vec<i64> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        page_seqs.extend(seqs);
        seqs = page_seqs;
        match page["prev_before"].as_i64() {
            Some(before) => {
                path =
                    format!("/api/conversations/{conversation}/messages?limit=10&before={before}")
            }
            None => break,
        }
    }
    assert_eq!(seqs, (1..=26).collect::<Vec<i64>>());
    // Forward from a cursor.
    let (_, page) = api
        .call(
            &ben,
            reqwest::Method::GET,
            &format!("/api/conversations/{conversation}/messages?after=20&limit=3"),
            None,
        )
        .await;
    let forward: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(forward, vec![21, 22, 23]);
    assert_eq!(page["next_after"], 23);

    // Bad cursors are refused clearly.
    for bad in ["before=abc", "after=-1", "limit=lots"] {
        let (status, body) = api
            .call(
                &ben,
                reqwest::Method::GET,
                &format!("/api/conversations/{conversation}/messages?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "invalid_cursor", "{bad}");
    }
    // Outsiders cannot read.
    let (status, body) = api
        .call(
            &eve,
            reqwest::Method::GET,
            &format!("/api/conversations/{conversation}/messages"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_member"))
    );

    // Search finds the word in members' conversations only, never in deleted messages, and
    // survives query syntax.
    let (status, found) = api
        .call(&ben, reqwest::Method::GET, "/api/search?q=pineapple", None)
        .await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["message 7 pineapple"]);
    let (_, none) = api
        .call(&eve, reqwest::Method::GET, "/api/search?q=pineapple", None)
        .await;
    assert_eq!(none["messages"].as_array().unwrap().len(), 0);
    let (status, _) = api
        .call(
            &ben,
            reqwest::Method::GET,
            "/api/search?q=%22foo%20AND%20(",
            None,
        )
        .await;
    assert_eq!(status, 200);

    // No token, or a bad one: 401 with a bearer challenge.
    let response = reqwest::get(format!("{}/api/conversations", server.base_url))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let (status, body) = api
        .call("garbage", reqwest::Method::GET, "/api/conversations", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_token"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_for_members_only_within_limits() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (ana, eve) = (token(&server, "ana"), token(&server, "eve"));
    let (_, created) = api
        .call(
            &ana,
            reqwest::Method::POST,
            "/api/conversations",
            Some(json!({ "kind": "group", "with": ["ben"], "title": "files" })),
        )
        .await;
    let conversation = created["id"].as_str().unwrap().to_owned();
    let upload = |token: &str, content_type: &str, body: Vec<u8>| {
        api.client
            .post(format!(
                "{}/api/conversations/{conversation}/attachments?filename=scan.png",
                api.base
            ))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let png = b"\x89PNG\r\n\x1a\nnot really a picture".to_vec();
    let response = upload(&ana, "image/png", png.clone()).await.unwrap();
    assert_eq!(response.status(), 201);
    let attachment: Value = response.json().await.unwrap();
    let attachment_id = attachment["id"].as_str().unwrap().to_owned();

    // Sent with a message, it reaches the member who downloads it.
    let sender = Chatter::connect(&server.ws_url, &ana).await.unwrap();
    let message = sender
        .send_attachments(
            &conversation,
            "the scan",
            std::slice::from_ref(&attachment_id),
        )
        .await
        .unwrap();
    assert_eq!(message.attachments[0].id, attachment_id);
    let url = format!("{}{}", api.base, message.attachments[0].url);
    let download = |token: String| api.client.get(url.clone()).bearer_auth(token).send();
    let response = download(token(&server, "ben")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().to_vec(), png);
    // A non-member cannot download it, or upload to the conversation.
    let response = download(eve.clone()).await.unwrap();
    assert_eq!(response.status(), 403);
    let response = upload(&eve, "image/png", png.clone()).await.unwrap();
    assert_eq!(response.status(), 403);

    // Refused types, bytes that are not what their type says, and oversized files get clear
    // errors.
    let response = upload(&ana, "image/png", b"<html><script>1</script>".to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_content_type");
    let response = upload(&ana, "application/x-msdownload", b"MZ".to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_content_type");
    // An oversized file is refused on its declared length, before its body is read (the server
    // answers and closes, so the request is sent by hand and its body never follows).
    let (status, body) = declare_upload(
        &server,
        &ana,
        &format!("/api/conversations/{conversation}/attachments?filename=scan.png"),
        chat::DEFAULT_MAX_ATTACHMENT_BYTES + 1,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "too_large");
    server.stop().await;
}

/// Sends only the head of an upload declaring `length` bytes and reads the reply to the end.
async fn declare_upload(server: &TestServer, token: &str, path: &str, length: u64) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.server.http_addr;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/png\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        socket.read_to_end(&mut reply),
    )
    .await
    .expect("a reply within 5 s, without the body")
    .unwrap();
    let reply = String::from_utf8(reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_never_sent_are_deleted_after_their_time_to_live() {
    // A file no row names (a crash between writing it and recording it), from before the start.
    let data_dir = std::env::temp_dir().join(format!("parley-sweep-{}", uuid::Uuid::new_v4()));
    let attachments = data_dir.join("attachments");
    std::fs::create_dir_all(&attachments).unwrap();
    let stray = attachments.join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::write(&stray, b"left by a crash").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stray)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(600))
        .unwrap();
    let server = TestServer::start_with(|args| {
        args.data_dir = Some(data_dir.clone());
        args.unsent_upload_ttl_secs = Some(2);
    })
    .await;
    let api = Api::new(&server);
    let ana = token(&server, "ana");
    let (_, created) = api
        .call(
            &ana,
            reqwest::Method::POST,
            "/api/conversations",
            Some(json!({ "kind": "group", "with": ["ben"], "title": "files" })),
        )
        .await;
    let conversation = created["id"].as_str().unwrap().to_owned();
    let upload = || async {
        let response = api
            .client
            .post(format!(
                "{}/api/conversations/{conversation}/attachments?filename=notes.txt",
                api.base
            ))
            .bearer_auth(&ana)
            .header("content-type", "text/plain")
            .body("notes")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    };
    let (abandoned, sent) = (upload().await, upload().await);
    let chatter = Chatter::connect(&server.ws_url, &ana).await.unwrap();
    chatter
        .send_attachments(&conversation, "my notes", std::slice::from_ref(&sent))
        .await
        .unwrap();
    let status = |id: String| {
        let request = api
            .client
            .get(format!("{}/api/attachments/{id}", api.base))
            .bearer_auth(&ana);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(abandoned.clone()).await, 200);

    // Gone within a few sweeps (every 1 s here) after the 2 s time to live; the sent one stays.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while status(abandoned.clone()).await != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the unsent upload is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status(sent).await, 200);
    assert!(!stray.exists(), "the stray file is still there");
    assert_eq!(std::fs::read_dir(&attachments).unwrap().count(), 1);
    server.stop().await;
}
