//! Attack: hold server memory with peer connections that never connect. Through the real
//! server: WHEP and WHIP sessions whose client never does ICE are given up after the connect
//! deadline, and the peer connection gauge returns to zero.

use loadtest::whip::post_offer;
use parley_e2e::{offer_sdp, TestServer};
use signaling::auth::Grants;
use std::time::{Duration, Instant};

/// One metric's value from `/metrics` (0 when absent).
async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_connections_that_never_connect_are_given_up() {
    let server = TestServer::start_with(|args| args.connect_timeout_secs = Some(2)).await;
    let base = server.base_url.clone();
    let room = "unseen";
    let viewer = server.token(
        "viewer",
        room,
        Grants {
            watch: true,
            ..Default::default()
        },
    );
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
    for _ in 0..200 {
        let r = post_offer(
            &format!("{base}/whep/{room}"),
            Some(&viewer),
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
        .bearer_auth(&viewer)
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
