//! Attack: a reused telehealth room leaks one visit's chat to the next. Through the real
//! server: patient A's message, file and name are not there for patient B, who joins the same
//! room later while the doctor stays; and A, gone, neither reads nor receives B's visit, even
//! holding a chat token for another room.

use parley_e2e::{RawSocket, TestServer};
use serde_json::{json, Value};
use signaling::auth::Grants;

fn room_grants() -> Grants {
    Grants {
        join: true,
        chat: true,
        ..Default::default()
    }
}

/// A socket that said hello and joined `room`; returns it with the room's conversation id.
async fn join(server: &TestServer, identity: &str, room: &str) -> (RawSocket, String) {
    let mut socket = RawSocket::connect(&server.ws_url).await;
    let welcome = socket
        .hello(&server.token(identity, room, room_grants()))
        .await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let joined = socket
        .request(json!({"type": "join", "id": "j", "room": room}).to_string())
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let conversation = joined["conversation"]
        .as_str()
        .expect("room conversation")
        .to_owned();
    (socket, conversation)
}

async fn send(socket: &mut RawSocket, conversation: &str, text: &str) -> Value {
    let ack = socket
        .request(
            json!({"type": "chat_send", "id": text, "conversation": conversation,
                   "client_msg_id": text, "text": text})
            .to_string(),
        )
        .await;
    assert_eq!(ack["type"], "chat_ack", "{ack}");
    ack
}

async fn history(socket: &mut RawSocket, conversation: &str) -> Value {
    socket
        .request(
            json!({"type": "chat_history", "id": "h", "conversation": conversation}).to_string(),
        )
        .await
}

/// Every event that reached the socket before the reply to a ping.
async fn events_until_pong(socket: &mut RawSocket) -> Vec<Value> {
    socket
        .send_text(json!({"type": "ping", "id": "p"}).to_string())
        .await;
    let mut events = Vec::new();
    loop {
        let frame = socket.recv().await;
        if frame["reply_to"] == "p" {
            return events;
        }
        events.push(frame);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_room_shows_nothing_of_the_previous_visit() {
    let server = TestServer::start().await;
    let room = "dr-smith";
    let (mut doctor, conversation) = join(&server, "doctor", room).await;
    let (mut patient_a, same) = join(&server, "patient-a", room).await;
    assert_eq!(same, conversation);
    let secret = send(&mut patient_a, &conversation, "my test result").await;
    let secret_id = secret["message"]["id"].as_str().unwrap().to_owned();
    let left = patient_a
        .request(json!({"type": "leave", "id": "l"}).to_string())
        .await;
    assert_eq!(left["type"], "ok", "{left}");

    // Patient B joins the same room while the doctor stays.
    let (mut patient_b, same) = join(&server, "patient-b", room).await;
    assert_eq!(same, conversation, "one conversation per room");
    let seen = history(&mut patient_b, &conversation).await;
    assert_eq!(
        seen["messages"],
        json!([]),
        "B reads nothing of A's visit: {seen}"
    );
    let react = patient_b
        .request(
            json!({"type": "chat_react", "id": "r", "message": secret_id, "emoji": "👍", "on": true})
                .to_string(),
        )
        .await;
    assert_eq!(react["code"], "not_found", "{react}");
    let listed = patient_b
        .request(json!({"type": "chat_conversations", "id": "c"}).to_string())
        .await;
    let text = listed.to_string();
    assert!(text.contains(&conversation), "{text}");
    assert!(
        !text.contains("patient-a"),
        "A's name is not shown to B: {text}"
    );
    let synced = patient_b
        .request(json!({"type": "chat_sync", "id": "s", "cursors": []}).to_string())
        .await;
    assert!(!synced.to_string().contains("my test result"), "{synced}");
    // The doctor, there all along, keeps the whole conversation.
    let doctors = history(&mut doctor, &conversation).await;
    assert_eq!(
        doctors["messages"].as_array().map(Vec::len),
        Some(1),
        "{doctors}"
    );

    // A, gone, with a chat-only token for another room: B's visit is closed to them.
    let mut elsewhere = RawSocket::connect(&server.ws_url).await;
    elsewhere
        .hello(&server.token("patient-a", "another-room", room_grants()))
        .await;
    send(&mut patient_b, &conversation, "notes about my visit").await;
    let theirs = history(&mut elsewhere, &conversation).await;
    assert_eq!(theirs["code"], "not_member", "{theirs}");
    let listed = elsewhere
        .request(json!({"type": "chat_conversations", "id": "c"}).to_string())
        .await;
    assert!(!listed.to_string().contains(&conversation), "{listed}");
    for socket in [&mut elsewhere, &mut patient_a] {
        let events = events_until_pong(socket).await;
        assert!(
            !events
                .iter()
                .any(|e| e.to_string().contains("notes about my visit")),
            "A received B's visit: {events:?}"
        );
    }
    server.stop().await;
}
