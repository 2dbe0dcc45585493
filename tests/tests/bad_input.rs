//! Bad input over the real WebSocket: each case gets its exact error code (with `reply_to`
//! when the frame had an id), and the connection and the server keep working afterwards.

use parley_e2e::{RawSocket, TestServer, SECRET};
use serde_json::{json, Value};
use signaling::auth::Grants;

fn assert_error(reply: &Value, code: &str, reply_to: Option<&str>) {
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], code, "{reply}");
    assert!(
        reply["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{reply}"
    );
    match reply_to {
        Some(id) => assert_eq!(reply["reply_to"], id, "{reply}"),
        None => assert!(reply.get("reply_to").is_none(), "{reply}"),
    }
}

/// The connection still answers after an error.
async fn assert_alive(socket: &mut RawSocket) {
    let pong = socket.request(r#"{"type":"ping","id":"alive"}"#).await;
    assert_eq!(pong, json!({"type": "pong", "reply_to": "alive"}));
}

fn b64url(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_error_replies_and_the_connection_survives() {
    let server = TestServer::start().await;
    let mut ws = RawSocket::connect(&server.ws_url).await;
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{not json".into(), "bad_json", None),
        ("[1,2,3]".into(), "bad_json", None),
        (r#"{"id":"1"}"#.into(), "unknown_type", Some("1")),
        (
            r#"{"type":"dance","id":"2"}"#.into(),
            "unknown_type",
            Some("2"),
        ),
        (
            r#"{"type":"join","id":"3"}"#.into(),
            "invalid_message",
            Some("3"),
        ),
        (
            r#"{"type":"hello","id":"4","version":"one","token":"t"}"#.into(),
            "invalid_message",
            Some("4"),
        ),
        (r#"{"type":"ping"}"#.into(), "invalid_message", None),
        (
            r#"{"type":"join","id":"5","room":"r"}"#.into(),
            "not_authenticated",
            Some("5"),
        ),
        (
            json!({"type":"ping","id":"6","pad":"x".repeat(70 * 1024)}).to_string(),
            "message_too_large",
            None,
        ),
        (
            r#"{"type":"hello","id":"7","version":99,"token":"t"}"#.into(),
            "unsupported_version",
            Some("7"),
        ),
    ];
    for (frame, code, reply_to) in cases {
        let reply = ws.request(frame.clone()).await;
        assert_error(&reply, code, reply_to);
        assert_alive(&mut ws).await;
    }
    ws.send_binary(vec![0, 1, 2]).await;
    assert_error(&ws.reply().await, "bad_json", None);
    assert_alive(&mut ws).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_with_their_reason() {
    let server = TestServer::start().await;
    let other_secret =
        signaling::auth::TokenAuthority::new(b"someone-elses-secret-0123456789abcdef");
    let forged = other_secret
        .mint(
            "eve",
            "Eve",
            "r",
            Grants::participant(),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let claims = json!({"sub":"eve","name":"Eve","room":"r","grants":{"join":true},"exp":9_999_999_999u64,"iat":0});
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    let expired = {
        let auth = signaling::auth::TokenAuthority::new(SECRET.as_bytes());
        // Minted with a lifetime of zero, then aged past the verifier's leeway.
        let token = auth
            .mint(
                "old",
                "Old",
                "r",
                Grants::participant(),
                std::time::Duration::ZERO,
            )
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        token
    };
    let mut ws = RawSocket::connect(&server.ws_url).await;
    for (token, code) in [
        (forged.as_str(), "invalid_token"),
        (alg_none.as_str(), "invalid_token"),
        ("garbage", "invalid_token"),
        (expired.as_str(), "token_expired"),
    ] {
        assert_error(&ws.hello(token).await, code, Some("hello"));
        assert_alive(&mut ws).await;
    }
    // A good token still works on the same connection afterwards.
    let welcome = ws
        .hello(&server.token("ana", "r", Grants::participant()))
        .await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["identity"], "ana");
    assert_error(
        &ws.hello(&server.token("ana", "r", Grants::participant()))
            .await,
        "already_authenticated",
        Some("hello"),
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_grant_and_media_errors() {
    let server = TestServer::start().await;
    let mut ws = RawSocket::connect(&server.ws_url).await;
    let viewer = Grants {
        join: true,
        subscribe: true,
        ..Default::default()
    };
    ws.hello(&server.token("viewer", "room-a", viewer)).await;

    let reply = ws
        .request(r#"{"type":"join","id":"j1","room":"room-b"}"#)
        .await;
    assert_error(&reply, "wrong_room", Some("j1"));
    let reply = ws
        .request(r#"{"type":"publish","id":"p0","sdp":"v=0"}"#)
        .await;
    assert_error(&reply, "forbidden", Some("p0"));
    let reply = ws
        .request(r#"{"type":"subscribe_answer","id":"a0","sdp":"v=0"}"#)
        .await;
    assert_error(&reply, "not_in_room", Some("a0"));

    let joined = ws
        .request(r#"{"type":"join","id":"j2","room":"room-a"}"#)
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["participants"], json!([]));
    let reply = ws
        .request(r#"{"type":"join","id":"j3","room":"room-a"}"#)
        .await;
    assert_error(&reply, "already_in_room", Some("j3"));
    let reply = ws
        .request(r#"{"type":"subscribe_answer","id":"a1","sdp":"v=0\r\n"}"#)
        .await;
    assert_error(&reply, "no_pending_offer", Some("a1"));
    let candidate = json!({"type":"ice_candidate","id":"c1","target":"publisher",
        "candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}});
    assert_error(
        &ws.request(candidate.to_string()).await,
        "unknown_session",
        Some("c1"),
    );
    assert_alive(&mut ws).await;

    // A publisher with the grant sending SDP that is not SDP.
    let mut publisher = RawSocket::connect(&server.ws_url).await;
    publisher
        .hello(&server.token("pub", "room-a", Grants::participant()))
        .await;
    let joined = publisher
        .request(r#"{"type":"join","id":"j","room":"room-a"}"#)
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    for (id, sdp) in [
        ("s1", "hello"),
        ("s2", ""),
        (
            "s3",
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video",
        ),
    ] {
        let reply = publisher
            .request(json!({"type":"publish","id":id,"sdp":sdp}).to_string())
            .await;
        assert_error(&reply, "invalid_sdp", Some(id));
    }
    assert_alive(&mut publisher).await;

    // Leaving works once, then reports not_in_room.
    let ok = ws.request(r#"{"type":"leave","id":"l1"}"#).await;
    assert_eq!(ok, json!({"type":"ok","reply_to":"l1"}));
    assert_error(
        &ws.request(r#"{"type":"leave","id":"l2"}"#).await,
        "not_in_room",
        Some("l2"),
    );

    // The server as a whole is fine.
    let health = reqwest::get(format!("{}/healthz", server.base_url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_requests_with_wrong_types_or_without_the_grant() {
    let server = TestServer::start().await;
    let mut ws = RawSocket::connect(&server.ws_url).await;
    ws.hello(&server.token("ana", "lobby", Grants::participant()))
        .await;
    for (frame, id) in [
        (
            json!({"type":"chat_send","id":"s1","conversation":5,"client_msg_id":"x","text":"hi"}),
            "s1",
        ),
        (
            json!({"type":"chat_history","id":"h1","conversation":"c","before":"yesterday"}),
            "h1",
        ),
        (
            json!({"type":"chat_sync","id":"y1","cursors":[{"conversation":"c","after_seq":"zero"}]}),
            "y1",
        ),
        (
            json!({"type":"call_invite","id":"i1","conversation":"c","media":"hologram"}),
            "i1",
        ),
    ] {
        let reply = ws.request(frame.to_string()).await;
        assert_error(&reply, "invalid_message", Some(id));
    }
    let reply = ws
        .request(r#"{"type":"chat_history","id":"h2","conversation":"nope","before":-3}"#)
        .await;
    assert_error(&reply, "invalid_message", Some("h2"));
    assert_alive(&mut ws).await;

    // Without the chat grant, chat is refused and the connection stays.
    let mut viewer = RawSocket::connect(&server.ws_url).await;
    let grants = Grants {
        join: true,
        subscribe: true,
        ..Default::default()
    };
    viewer.hello(&server.token("viewer", "lobby", grants)).await;
    let reply = viewer
        .request(r#"{"type":"chat_conversations","id":"c1"}"#)
        .await;
    assert_error(&reply, "forbidden", Some("c1"));
    assert_alive(&mut viewer).await;
}
