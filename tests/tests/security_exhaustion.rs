//! Attack: hold server memory with peer connections that never connect. Through the real
//! server: WHEP and WHIP sessions whose client never does ICE are given up after the connect
//! deadline, and the peer connection gauge returns to zero; one identity holds only so many
//! sessions and opens them only so fast; a room and the server hold only so many connections.

use loadtest::whip::post_offer;
use parley_e2e::{metric, offer_sdp, TestServer};
use signaling::auth::Grants;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_connections_that_never_connect_are_given_up() {
    let server = TestServer::start_with(|args| args.connect_timeout_secs = Some(2)).await;
    let base = server.base_url.clone();
    let room = "unseen";
    let watch_grant = Grants {
        watch: true,
        ..Default::default()
    };
    // Two hundred viewers (one identity could open only a few: see the test below).
    let viewers: Vec<String> = (0..200)
        .map(|i| server.token(&format!("viewer-{i}"), room, watch_grant))
        .collect();
    let viewer = &viewers[0];
    let publisher = server.token(
        "streamer",
        room,
        Grants {
            join: true,
            publish: true,
            ..Default::default()
        },
    );
    let vp8: &[(u8, &str)] = &[(96, "VP8/90000")];
    let watch = offer_sdp(&[("video", "recvonly", vp8, &[])]);
    let mut sessions = Vec::new();
    for viewer in &viewers {
        let r = post_offer(
            &format!("{base}/whep/{room}"),
            Some(viewer),
            "application/sdp",
            watch.clone(),
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        sessions.push(r.headers()["location"].to_str().unwrap().to_owned());
    }
    let send = offer_sdp(&[("video", "sendonly", vp8, &[])]);
    let r = post_offer(
        &format!("{base}/whip/{room}"),
        Some(&publisher),
        "application/sdp",
        send,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(metric(&base, "parley_peer_connections").await, 201.0);

    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&base, "parley_peer_connections").await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "never-connected peer connections were kept"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metric(&base, "parley_connect_timeouts_total").await, 201.0);
    assert_eq!(metric(&base, "parley_participants").await, 0.0);
    // The sessions are gone too: their URLs answer 404.
    let gone = reqwest::Client::new()
        .delete(format!("{base}{}", sessions[0]))
        .bearer_auth(viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_with_more_m_lines_than_any_client_sends_are_refused() {
    let server = TestServer::start().await;
    let publisher = server.token(
        "streamer",
        "many",
        Grants {
            join: true,
            publish: true,
            ..Default::default()
        },
    );
    let opus: &[(u8, &str)] = &[(111, "opus/48000/2")];
    let lines: Vec<parley_e2e::MLine<'_>> = (0..40)
        .map(|_| ("audio", "sendonly", opus, &[][..]))
        .collect();
    let offer = offer_sdp(&lines);
    let r = post_offer(
        &format!("{}/whip/many", server.base_url),
        Some(&publisher),
        "application/sdp",
        offer,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "limit_exceeded", "{body}");
    assert_eq!(
        metric(&server.base_url, "parley_peer_connections").await,
        0.0
    );
    assert_eq!(metric(&server.base_url, "parley_participants").await, 0.0);
    server.stop().await;
}

/// POSTs a recvonly VP8 WHEP offer: (status, error code).
async fn whep(base: &str, room: &str, token: &str) -> (u16, String) {
    let vp8: &[(u8, &str)] = &[(96, "VP8/90000")];
    let r = post_offer(
        &format!("{base}/whep/{room}"),
        Some(token),
        "application/sdp",
        offer_sdp(&[("video", "recvonly", vp8, &[])]),
    )
    .await
    .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_per_identity_room_and_server_are_capped_and_opening_them_is_rate_limited() {
    let server = TestServer::start_with(|args| {
        args.max_sessions_per_identity = Some(3);
        args.max_room_peer_connections = Some(5);
        args.max_peer_connections = Some(7);
    })
    .await;
    let base = server.base_url.clone();
    let grant = Grants {
        watch: true,
        ..Default::default()
    };
    // One identity: three sessions, then at capacity.
    let mallory = server.token("mallory", "a", grant);
    for _ in 0..3 {
        assert_eq!(whep(&base, "a", &mallory).await.0, 201);
    }
    assert_eq!(
        whep(&base, "a", &mallory).await,
        (503, "at_capacity".into())
    );
    // The room: five peer connections in all.
    for i in 0..2 {
        let token = server.token(&format!("v{i}"), "a", grant);
        assert_eq!(whep(&base, "a", &token).await.0, 201);
    }
    let sixth = server.token("v-late", "a", grant);
    assert_eq!(whep(&base, "a", &sixth).await, (503, "at_capacity".into()));
    // The server: seven in all rooms.
    for i in 0..2 {
        let token = server.token(&format!("w{i}"), "b", grant);
        assert_eq!(whep(&base, "b", &token).await.0, 201);
    }
    let eighth = server.token("w-late", "b", grant);
    assert_eq!(whep(&base, "b", &eighth).await, (503, "at_capacity".into()));
    server.stop().await;

    // Opening sessions in a loop: past the sessions cap (8) they are refused, and past a burst
    // of ten POSTs they are not even considered: 429.
    let server = TestServer::start().await;
    let base = server.base_url.clone();
    let looper = server.token("looper", "c", grant);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(whep(&base, "c", &looper).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(metric(&base, "parley_refused_total{door=\"whep\"}").await >= 1.0);
    server.stop().await;
}
