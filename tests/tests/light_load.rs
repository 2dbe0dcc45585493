//! Light subscribers (`loadtest::light`, what `parley-loadtest media --light` runs) against the
//! real server, over UDP and over ICE-TCP: they must receive media without decrypting it, and
//! their transport-wide feedback must reach the server's congestion control through SRTCP.

use loadtest::light::{LightPool, LightSubscriber, LightTransport, Snapshot};
use loadtest::whip::HttpSession;
use parley_e2e::{metric, publisher_grants, viewer_grants, TestServer};
use std::time::{Duration, Instant};

const INITIAL_DOWNLINK_BPS: f64 = 1_000_000.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_subscribers_count_media_and_feed_congestion_control() {
    count_media_and_feed_congestion_control(LightTransport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ice_tcp_too() {
    count_media_and_feed_congestion_control(LightTransport::Tcp).await;
}

async fn count_media_and_feed_congestion_control(transport: LightTransport) {
    let server = TestServer::start().await;
    let room = "light";
    // A WHIP publisher has no subscriber leg: every downlink estimate is a light subscriber's.
    let token = server.token("publisher", room, publisher_grants());
    let (publisher, _publication, stop) = HttpSession::whip(&server.base_url, room, &token)
        .await
        .unwrap();
    let pool = LightPool::start(1, "127.0.0.1".parse().unwrap(), transport).unwrap();
    let mut subscribers = Vec::new();
    for i in 0..3 {
        let name = format!("light-{i}");
        let token = server.token(&name, room, viewer_grants());
        let subscriber = LightSubscriber::join(&pool, &server.ws_url, &token, room)
            .await
            .unwrap();
        subscribers.push(subscriber);
    }

    // Each: connected, 150 packets (1.4 s of audio + video) counted, feedback sent.
    let deadline = Instant::now() + Duration::from_secs(6);
    let enough = |s: &Snapshot| s.connected == 1 && s.packets >= 150 && s.twcc_feedbacks >= 5;
    let snapshots = loop {
        let snapshots: Vec<Snapshot> = subscribers.iter().map(|s| s.snapshot()).collect();
        if snapshots.iter().all(enough) || Instant::now() > deadline {
            break snapshots;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for s in &snapshots {
        assert!(enough(s), "{s:?}");
        assert_eq!(s.offers_answered, 1, "{s:?}");
        assert!(s.lost * 20 <= s.packets, "under 5 % lost: {s:?}");
        // RTP never reaches the connection: only STUN, DTLS and RTCP do, far fewer.
        assert!(s.control * 4 < s.packets, "{s:?}");
        assert_eq!(s.malformed, 0, "{s:?}");
    }

    // The server counts connections by the way they came: the WHIP publisher's over UDP, the
    // subscribers' over `transport`.
    let (udp, tcp) = match transport {
        LightTransport::Udp => (4.0, 0.0),
        LightTransport::Tcp => (1.0, 3.0),
    };
    let count = |label: &str| {
        let name = format!("parley_peer_connections_by_transport{{transport=\"{label}\"}}");
        let base = server.base_url.clone();
        async move { metric(&base, &name).await }
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while (count("udp").await, count("tcp").await) != (udp, tcp) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (count("udp").await, count("tcp").await),
        (udp, tcp),
        "connections over udp, tcp"
    );
    assert_eq!(
        metric(&server.base_url, "parley_tcp_connections").await,
        tcp
    );

    // The server's GCC only moves off its initial estimate on TWCC feedback it could decrypt.
    let deadline = Instant::now() + Duration::from_secs(3);
    let (count, off) = loop {
        let (count, off) = estimates(&server.base_url).await;
        if off.abs() > 1.0 || Instant::now() > deadline {
            break (count, off);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(count > 0.0, "no downlink estimate sampled");
    assert!(
        off.abs() > 1.0,
        "every one of {count} estimates is the initial {INITIAL_DOWNLINK_BPS} bit/s: no feedback reached the server"
    );

    drop(subscribers);
    let _ = stop.send(true);
    publisher.close().await;
    server.stop().await;
}

/// How many downlink estimates the server sampled, and how far their sum is from all of them
/// being the initial estimate.
async fn estimates(base: &str) -> (f64, f64) {
    let count = metric(base, "parley_subscriber_downlink_estimate_bps_count").await;
    let sum = metric(base, "parley_subscriber_downlink_estimate_bps_sum").await;
    (count, sum - count * INITIAL_DOWNLINK_BPS)
}
