//! Attack: walk in as a guest. Guest tokens exist only when the operator turns them on; a guest
//! calls (join, publish, subscribe) but never reads or writes chat, never watches unseen, never
//! enters a room an app created through the server API, and cannot grant itself more.

use loadtest::whip::post_offer;
use parley_e2e::{offer_sdp, RawSocket, TestServer};
use serde_json::{json, Value};

async fn guest_token(server: &TestServer, name: &str, room: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/guest-token", server.base_url))
        .json(&json!({"name": name, "room": room}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn create_room(server: &TestServer, name: &str) {
    let admin = server.admin_token();
    let status = reqwest::Client::new()
        .post(format!("{}/api/rooms", server.base_url))
        .bearer_auth(admin)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_call_in_open_rooms_only_and_never_chat_or_watch() {
    // Off unless the operator asks: the careless default deployment hands out nothing.
    let closed = TestServer::start().await;
    let (status, body) = guest_token(&closed, "Mallory", "dr-smith").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("guest_tokens_disabled"))
    );
    closed.stop().await;

    let server = TestServer::start_with(|args| args.guest_tokens = Some(true)).await;
    create_room(&server, "dr-smith").await;

    // A room the app created through the API is the app's: guests are turned away at every door.
    let (status, body) = guest_token(&server, "Mallory", "dr-smith").await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let mut socket = RawSocket::connect(&server.ws_url).await;
    assert_eq!(socket.hello(&token).await["type"], "welcome");
    let refused = socket
        .request(json!({"type": "join", "id": "j", "room": "dr-smith"}).to_string())
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let offer = offer_sdp(&[("audio", "sendonly", &[(111, "opus/48000/2")], &[])]);
    let whip = post_offer(
        &format!("{}/whip/dr-smith", server.base_url),
        Some(&token),
        "application/sdp",
        offer.clone(),
    )
    .await
    .unwrap();
    assert_eq!(whip.status(), 403);
    // No chat, whatever the conversation.
    let chat = socket
        .request(json!({"type": "chat_conversations", "id": "c"}).to_string())
        .await;
    assert_eq!(chat["code"], "forbidden", "{chat}");
    let history = reqwest::Client::new()
        .get(format!("{}/api/conversations", server.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 403);

    // In a room opened by a join, a guest calls, without the room's conversation.
    let (_, body) = guest_token(&server, "Gus", "hallway").await;
    let token = body["token"].as_str().unwrap().to_owned();
    let mut socket = RawSocket::connect(&server.ws_url).await;
    socket.hello(&token).await;
    let joined = socket
        .request(json!({"type": "join", "id": "j", "room": "hallway"}).to_string())
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert!(joined["conversation"].is_null(), "{joined}");
    // Watching unseen is not a guest's either.
    let whep = post_offer(
        &format!("{}/whep/hallway", server.base_url),
        Some(&token),
        "application/sdp",
        offer_sdp(&[("video", "recvonly", &[(96, "VP8/90000")], &[])]),
    )
    .await
    .unwrap();
    assert_eq!(whep.status(), 403);
    server.stop().await;
}
