//! Attack: be in a room unseen or unadmitted. Through the real server: WHIP and WHEP admit like
//! a WebSocket join (cap, audio-only, rooms only from the API, bans); watching needs its own
//! grant; viewers are listed to operators and removable; removal is revocation at every door.

use loadtest::whip::post_offer;
use parley_e2e::{offer_sdp, RawSocket, TestServer};
use serde_json::{json, Value};
use signaling::auth::Grants;
use std::time::{Duration, Instant};

async fn api(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base_url))
        .bearer_auth(server.admin_token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs an offer to `/{endpoint}/{room}`: (status, error code or `Location`).
async fn post(
    server: &TestServer,
    endpoint: &str,
    room: &str,
    token: &str,
    offer: &str,
) -> (u16, String) {
    let url = format!("{}/{endpoint}/{room}", server.base_url);
    let r = post_offer(&url, Some(token), "application/sdp", offer.to_owned())
        .await
        .unwrap();
    let status = r.status().as_u16();
    match r.headers().get("location") {
        Some(location) => (status, location.to_str().unwrap().to_owned()),
        None => {
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
            )
        }
    }
}

fn grants(list: &str) -> Grants {
    Grants::parse_list(list).unwrap()
}

async fn ws_join(server: &TestServer, identity: &str, room: &str) -> (RawSocket, Value) {
    let mut socket = RawSocket::connect(&server.ws_url).await;
    socket
        .hello(&server.token(identity, room, grants("join,subscribe,moderate")))
        .await;
    let reply = socket
        .request(json!({"type": "join", "id": "j", "room": room}).to_string())
        .await;
    (socket, reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_are_admitted_like_a_join_and_removal_is_revocation() {
    let server = TestServer::start().await;
    let vp8: &[(u8, &str)] = &[(96, "VP8/90000")];
    let opus: &[(u8, &str)] = &[(111, "opus/48000/2")];
    let watch = offer_sdp(&[("video", "recvonly", vp8, &[])]);
    let (status, _) = api(
        &server,
        reqwest::Method::POST,
        "/api/rooms",
        Some(json!({"name": "consult", "max_participants": 2})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = api(
        &server,
        reqwest::Method::POST,
        "/api/rooms",
        Some(json!({"name": "radio", "audio_only": true})),
    )
    .await;
    assert_eq!(status, 201);
    let (_doctor, joined) = ws_join(&server, "doctor", "consult").await;
    assert_eq!(joined["type"], "joined", "{joined}");

    // Watching is its own grant: a participant's token does not do.
    let participant = server.token("lurker", "consult", grants("join,publish,subscribe,chat"));
    assert_eq!(
        post(&server, "whep", "consult", &participant, &watch).await,
        (403, "forbidden".into())
    );
    let observer = server.token("observer", "consult", grants("watch"));
    let (status, session) = post(&server, "whep", "consult", &observer, &watch).await;
    assert_eq!(status, 201, "{session}");
    // The viewer counts against the cap: the room (2) is full for everyone, at every door.
    let second = server.token("observer-2", "consult", grants("watch"));
    assert_eq!(
        post(&server, "whep", "consult", &second, &watch).await,
        (403, "room_full".into())
    );
    let (_, refused) = ws_join(&server, "late", "consult").await;
    assert_eq!(refused["code"], "room_full", "{refused}");
    // Operators see the viewer, marked as one.
    let (_, listed) = api(
        &server,
        reqwest::Method::GET,
        "/api/rooms/consult/participants",
        None,
    )
    .await;
    let people = listed["participants"].as_array().unwrap();
    assert_eq!(people.len(), 2, "{listed}");
    assert!(
        people
            .iter()
            .any(|p| p["identity"] == "observer" && p["viewer"] == true),
        "{listed}"
    );
    assert!(
        people
            .iter()
            .any(|p| p["identity"] == "doctor" && p["viewer"] == false),
        "{listed}"
    );

    // Removing the viewer ends its session and bars the identity from every door.
    let (status, _) = api(
        &server,
        reqwest::Method::DELETE,
        "/api/rooms/consult/participants/observer",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let gone = http
            .delete(format!("{}{session}", server.base_url))
            .bearer_auth(&observer)
            .send()
            .await
            .unwrap();
        if gone.status().as_u16() == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the removed viewer's session lingers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        post(&server, "whep", "consult", &observer, &watch).await,
        (403, "banned".into())
    );
    let as_publisher = server.token("observer", "consult", grants("join,publish"));
    let audio = offer_sdp(&[("audio", "sendonly", opus, &[])]);
    assert_eq!(
        post(&server, "whip", "consult", &as_publisher, &audio).await,
        (403, "banned".into())
    );
    let mut socket = RawSocket::connect(&server.ws_url).await;
    socket
        .hello(&server.token("observer", "consult", grants("join")))
        .await;
    let refused = socket
        .request(json!({"type": "join", "id": "j", "room": "consult"}).to_string())
        .await;
    assert_eq!(refused["code"], "banned", "{refused}");
    // Someone else may take the freed place.
    let (status, _) = post(&server, "whep", "consult", &second, &watch).await;
    assert_eq!(status, 201);

    // An audio-only room takes no video from WHIP.
    let streamer = server.token("streamer", "radio", grants("join,publish"));
    let video = offer_sdp(&[
        ("audio", "sendonly", opus, &[]),
        ("video", "sendonly", vp8, &[]),
    ]);
    assert_eq!(
        post(&server, "whip", "radio", &streamer, &video).await,
        (403, "audio_only".into())
    );
    let (status, _) = post(&server, "whip", "radio", &streamer, &audio).await;
    assert_eq!(status, 201);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_open_no_room_where_only_the_api_does() {
    let server = TestServer::start_with(|args| args.auto_create_rooms = Some(false)).await;
    let vp8: &[(u8, &str)] = &[(96, "VP8/90000")];
    let publisher = server.token("streamer", "nowhere", grants("join,publish"));
    let send = offer_sdp(&[("video", "sendonly", vp8, &[])]);
    assert_eq!(
        post(&server, "whip", "nowhere", &publisher, &send).await,
        (404, "room_not_found".into())
    );
    let viewer = server.token("viewer", "nowhere", grants("watch"));
    let watch = offer_sdp(&[("video", "recvonly", vp8, &[])]);
    assert_eq!(
        post(&server, "whep", "nowhere", &viewer, &watch).await,
        (404, "room_not_found".into())
    );
    server.stop().await;
}

/// The next message of `type`, skipping others (within the socket's 10 s per message).
async fn next_of(socket: &mut RawSocket, kind: &str) -> Value {
    loop {
        let message = socket.recv().await;
        if message["type"] == kind {
            return message;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_see_viewers_and_can_end_them_others_do_not() {
    let server = TestServer::start().await;
    let vp8: &[(u8, &str)] = &[(96, "VP8/90000")];
    let watch = offer_sdp(&[("video", "recvonly", vp8, &[])]);
    let (mut moderator, joined) = ws_join(&server, "teacher", "class").await;
    assert!(joined.get("viewers").is_none(), "{joined}");
    let mut pupil = RawSocket::connect(&server.ws_url).await;
    pupil
        .hello(&server.token("pupil", "class", grants("join,subscribe")))
        .await;
    let pupil_joined = pupil
        .request(json!({"type": "join", "id": "j", "room": "class"}).to_string())
        .await;
    assert_eq!(pupil_joined["type"], "joined");

    let observer = server.token("inspector", "class", grants("watch"));
    let (status, _) = post(&server, "whep", "class", &observer, &watch).await;
    assert_eq!(status, 201);
    let seen = next_of(&mut moderator, "viewer_joined").await;
    assert_eq!(seen["participant"]["identity"], "inspector");
    let viewer_sid = seen["participant"]["sid"].as_str().unwrap().to_owned();
    // A moderator who joins later gets the viewers with `joined`.
    let (_late, late_joined) = ws_join(&server, "headteacher", "class").await;
    assert_eq!(
        late_joined["viewers"][0]["sid"],
        viewer_sid.as_str(),
        "{late_joined}"
    );
    // The pupil is told nothing of it: nothing before its own pong names the viewer.
    pupil
        .send_text(json!({"type": "ping", "id": "p"}).to_string())
        .await;
    loop {
        let heard = pupil.recv().await;
        assert_ne!(heard["type"], "viewer_joined", "{heard}");
        assert!(!heard.to_string().contains(&viewer_sid), "{heard}");
        if heard["type"] == "pong" {
            break;
        }
    }

    // The moderator ends the viewer's session.
    let done = moderator
        .request(
            json!({"type": "moderate_participant", "id": "m", "participant": viewer_sid, "action": "remove"})
                .to_string(),
        )
        .await;
    assert_eq!(done["type"], "ok", "{done}");
    let gone = next_of(&mut moderator, "viewer_left").await;
    assert_eq!(gone["sid"], viewer_sid.as_str());
    server.stop().await;
}
