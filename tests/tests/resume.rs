//! Resuming a session on a new socket through the real server (`hello.resume`): a socket lost
//! without a close handshake keeps its participant in the room; a new socket with the resume
//! token continues it (same sid, the room as it is now, a new token); a token works once and
//! only for its identity; a resume takes the session from a socket still open; the window
//! passing, or a clean close, ends the participant.

use parley_e2e::{metric, RawSocket, TestServer};
use serde_json::{json, Value};
use signaling::auth::Grants;
use std::time::Duration;

/// A socket that said hello and joined `room` as `identity`; returns it and the `joined` reply.
async fn joined(server: &TestServer, identity: &str, room: &str) -> (RawSocket, Value) {
    let mut socket = RawSocket::connect(&server.ws_url).await;
    let token = server.token(identity, room, Grants::participant());
    assert_eq!(socket.hello(&token).await["type"], "welcome");
    let joined = socket
        .request(json!({"type": "join", "id": "j", "room": room}).to_string())
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    (socket, joined)
}

/// Says hello on a new socket with `resume`; returns the socket and the welcome.
async fn resume(
    server: &TestServer,
    identity: &str,
    room: &str,
    resume: &str,
) -> (RawSocket, Value) {
    let mut socket = RawSocket::connect(&server.ws_url).await;
    let token = server.token(identity, room, Grants::participant());
    let hello = json!({"type": "hello", "id": "h", "version": 1, "token": token, "resume": resume});
    let welcome = socket.request(hello.to_string()).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (socket, welcome)
}

/// Waits for an event of `kind` on `socket` (other frames are skipped); `None` after `within`.
async fn event(socket: &mut RawSocket, kind: &str, within: Duration) -> Option<Value> {
    tokio::time::timeout(within, async {
        loop {
            let message = socket.recv().await;
            if message["type"] == kind {
                return message;
            }
        }
    })
    .await
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_socket_is_resumed_on_a_new_one_once_and_only_by_its_owner() {
    let server = TestServer::start().await;
    let (lost, joined_a) = joined(&server, "ana", "ward").await;
    let sid = joined_a["you"]["sid"].as_str().unwrap().to_owned();
    let token = joined_a["resume_token"]
        .as_str()
        .expect("resume token")
        .to_owned();
    assert_eq!(token.len(), 32);
    let (mut ben, _) = joined(&server, "ben", "ward").await;
    // The TCP connection ends with no close handshake, as when the network goes away.
    drop(lost);
    assert!(
        event(&mut ben, "participant_left", Duration::from_secs(2))
            .await
            .is_none(),
        "ana is kept in the room while she may come back"
    );

    let (_, other) = resume(&server, "mallory", "ward", &token).await;
    assert!(
        other.get("resumed").is_none(),
        "another identity cannot resume: {other}"
    );
    let (mut back, welcome) = resume(&server, "ana", "ward", &token).await;
    let resumed = &welcome["resumed"];
    assert_eq!(resumed["room"], "ward", "{welcome}");
    assert_eq!(resumed["you"]["sid"], sid.as_str(), "the same participant");
    let others: Vec<&str> = resumed["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(others, ["ben"], "the room as it is now");
    let next = resumed["resume_token"].as_str().unwrap().to_owned();
    assert_ne!(next, token, "each token works once");
    let (_, again) = resume(&server, "ana", "ward", &token).await;
    assert!(
        again.get("resumed").is_none(),
        "the old token is spent: {again}"
    );

    // The resumed socket is the session: its requests act on the same participant.
    let reply = back
        .request(
            json!({"type": "set_track_muted", "id": "m", "track": "TR_none", "muted": true})
                .to_string(),
        )
        .await;
    assert_eq!(reply["type"], "error");
    assert_eq!(
        reply["code"], "unknown_track",
        "in the room, as before: {reply}"
    );
    let reply = back
        .request(json!({"type": "restart_ice", "id": "r"}).to_string())
        .await;
    assert_eq!(
        reply["type"], "error",
        "no subscriber connection yet: {reply}"
    );
    assert!(reply["code"].is_string());

    // A resume while the socket that has the session is still open takes it from that socket.
    let (_, taken) = resume(&server, "ana", "ward", &next).await;
    assert_eq!(taken["resumed"]["you"]["sid"], sid.as_str(), "{taken}");
    let closed = tokio::time::timeout(Duration::from_secs(5), back.closed())
        .await
        .expect("the old socket is closed");
    assert_eq!(
        closed.as_deref(),
        Some("session resumed on another connection")
    );
    assert!(
        metric(
            &server.base_url,
            "parley_session_resumes_total{outcome=\"resumed\"}"
        )
        .await
            >= 2.0
    );
    assert!(
        event(&mut ben, "participant_left", Duration::from_millis(500))
            .await
            .is_none()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_passing_or_a_clean_close_ends_the_participant() {
    let server = TestServer::start_with(|args| args.resume_window_secs = Some(1)).await;
    let (lost, joined_a) = joined(&server, "ana", "ward").await;
    let sid = joined_a["you"]["sid"].as_str().unwrap().to_owned();
    let (mut ben, _) = joined(&server, "ben", "ward").await;
    drop(lost);
    let left = event(&mut ben, "participant_left", Duration::from_secs(5))
        .await
        .expect("ana leaves once the window passed");
    assert_eq!(left["sid"], sid.as_str());
    assert_eq!(
        metric(
            &server.base_url,
            "parley_session_resumes_total{outcome=\"expired\"}"
        )
        .await,
        1.0
    );
    let token = joined_a["resume_token"].as_str().unwrap();
    let (_, late) = resume(&server, "ana", "ward", token).await;
    assert!(late.get("resumed").is_none(), "too late: {late}");

    let (mut cy, joined_c) = joined(&server, "cy", "ward").await;
    cy.close().await;
    let left = event(&mut ben, "participant_left", Duration::from_secs(2))
        .await
        .expect("a socket closed on purpose leaves at once");
    assert_eq!(left["sid"], joined_c["you"]["sid"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_window_nothing_is_kept() {
    let server = TestServer::start_with(|args| args.resume_window_secs = Some(0)).await;
    let (lost, joined_a) = joined(&server, "ana", "ward").await;
    assert!(joined_a.get("resume_token").is_none(), "{joined_a}");
    let (mut ben, _) = joined(&server, "ben", "ward").await;
    drop(lost);
    assert!(event(&mut ben, "participant_left", Duration::from_secs(2))
        .await
        .is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_gets_fresh_turn_credentials() {
    let server = TestServer::start_with(|args| {
        args.turn_url = Some(vec!["turn:127.0.0.1:3478?transport=udp".into()]);
        args.turn_secret = Some("resume-test-turn-secret".into());
    })
    .await;
    let (lost, joined_a) = joined(&server, "ana", "ward").await;
    let first = &joined_a["ice_servers"][0];
    assert!(first["username"].is_string(), "{joined_a}");
    drop(lost);
    let token = joined_a["resume_token"].as_str().unwrap();
    let (_, welcome) = resume(&server, "ana", "ward", token).await;
    let again = &welcome["resumed"]["ice_servers"][0];
    assert_eq!(again["urls"], first["urls"], "{welcome}");
    assert!(again["credential"].is_string());
    assert_ne!(again["username"], first["username"], "new credentials");
    server.stop().await;
}
