//! Attack: stretch a grant past its room. Through the real server: a token's `moderate` grant
//! acts on its own room's conversation only (elsewhere, conversation roles decide), and
//! `presence_query` tells nothing about people the caller shares no conversation with.

use parley_e2e::{RawSocket, TestServer};
use serde_json::{json, Value};
use signaling::auth::Grants;

fn grants(list: &str) -> Grants {
    Grants::parse_list(list).unwrap()
}

async fn connect(server: &TestServer, identity: &str, room: &str, list: &str) -> RawSocket {
    let mut socket = RawSocket::connect(&server.ws_url).await;
    let welcome = socket
        .hello(&server.token(identity, room, grants(list)))
        .await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    socket
}

async fn request(socket: &mut RawSocket, message: Value) -> Value {
    socket.request(message.to_string()).await
}

async fn send(socket: &mut RawSocket, conversation: &str, text: &str) -> String {
    let ack = request(
        socket,
        json!({"type": "chat_send", "id": text, "conversation": conversation, "client_msg_id": text, "text": text}),
    )
    .await;
    assert_eq!(ack["type"], "chat_ack", "{ack}");
    ack["message"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderate_grant_stays_in_its_room() {
    let server = TestServer::start().await;
    let mut moderator = connect(&server, "host", "room-a", "join,chat,moderate").await;
    let mut guest = connect(&server, "guest", "room-a", "join,chat").await;
    // A group the guest owns, where the moderator is a plain member.
    let group = request(
        &mut guest,
        json!({"type": "chat_create", "id": "g", "kind": "group", "with": ["host"], "title": "private"}),
    )
    .await;
    let group = group["conversation"]["id"]
        .as_str()
        .expect("group")
        .to_owned();
    let theirs = send(&mut guest, &group, "my own words").await;
    let delete = json!({"type": "chat_delete", "id": "d", "message": theirs});
    let refused = request(&mut moderator, delete).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let kick = json!({"type": "chat_moderate", "id": "k", "conversation": group, "action": "kick", "target": "guest"});
    let refused = request(&mut moderator, kick).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");

    // In its own room's conversation the grant works.
    let joined = request(
        &mut moderator,
        json!({"type": "join", "id": "j", "room": "room-a"}),
    )
    .await;
    let room_conversation = joined["conversation"].as_str().unwrap().to_owned();
    request(
        &mut guest,
        json!({"type": "join", "id": "j", "room": "room-a"}),
    )
    .await;
    let said = send(&mut guest, &room_conversation, "out of line").await;
    let deleted = request(
        &mut moderator,
        json!({"type": "chat_delete", "id": "d2", "message": said}),
    )
    .await;
    assert_eq!(deleted["type"], "chat_ack", "{deleted}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_only_for_contacts() {
    let server = TestServer::start().await;
    let mut stalker = connect(&server, "stalker", "lobby", "chat").await;
    let mut patient = connect(&server, "patient", "clinic", "chat").await;
    let mut doctor = connect(&server, "doctor", "clinic", "chat").await;
    request(
        &mut doctor,
        json!({"type": "chat_create", "id": "c", "kind": "direct", "with": ["patient"]}),
    )
    .await;
    let query = json!({"type": "presence_query", "id": "q", "identities": ["patient"]});
    let seen = request(&mut stalker, query.clone()).await;
    assert_eq!(seen["presence"][0]["status"], "offline", "{seen}");
    assert!(seen["presence"][0]["last_seen_at"].is_null(), "{seen}");
    let seen = request(&mut doctor, query).await;
    assert_eq!(seen["presence"][0]["status"], "online", "{seen}");
    drop(
        patient
            .request(json!({"type": "ping", "id": "p"}).to_string())
            .await,
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_cannot_grow_a_group_into_a_broadcast() {
    let server = TestServer::start().await;
    let mut ana = connect(&server, "ana", "r", "chat").await;
    let people = |n: usize| (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>();
    // 100 others and Ana: one too many.
    let refused = request(
        &mut ana,
        json!({"type": "chat_create", "id": "big", "kind": "group", "with": people(100)}),
    )
    .await;
    assert_eq!(refused["code"], "message_too_large", "{refused}");
    let created = request(
        &mut ana,
        json!({"type": "chat_create", "id": "full", "kind": "group", "with": people(99)}),
    )
    .await;
    let id = created["conversation"]["id"].as_str().unwrap().to_owned();
    let add = |identity: &str| {
        reqwest::Client::new()
            .post(format!(
                "{}/api/conversations/{id}/members",
                server.base_url
            ))
            .bearer_auth(server.token("ana", "r", grants("chat")))
            .json(&json!({"identity": identity}))
            .send()
    };
    assert_eq!(add("p100").await.unwrap().status(), 413, "the 101st member");
    assert_eq!(
        add("p5").await.unwrap().status(),
        204,
        "someone already in is no growth"
    );
    server.stop().await;
}
