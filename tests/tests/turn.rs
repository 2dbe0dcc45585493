//! TURN through a real coturn: clients whose peer connections may use nothing but relay
//! candidates (a network that lets only the TURN server out) call through coturn with the
//! short-lived credentials `joined` hands out, and the media arrives byte for byte; WHIP and
//! WHEP answers carry the same servers as RFC 9725 `Link` headers.

use loadtest::{ClientOptions, SyntheticClient};
use parley_e2e::coturn::Coturn;
use parley_e2e::{offer_sdp, publisher_grants, TestServer};
use signaling::auth::Grants;
use std::time::Duration;

const TURN_SECRET: &str = "coturn-test-secret-7f3a9c";

async fn server_with(coturn: &Coturn) -> TestServer {
    let url = coturn.url();
    TestServer::start_with(move |args| {
        args.turn_url = Some(vec![url]);
        args.turn_secret = Some(TURN_SECRET.into());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_clients_call_through_coturn() {
    let coturn = Coturn::start(TURN_SECRET);
    let server = server_with(&coturn).await;
    let room = "ward";
    let relay = ClientOptions { relay_only: true };
    let token = server.token("nurse", room, Grants::participant());
    let mut publisher = SyntheticClient::join_with(&server.ws_url, &token, room, relay)
        .await
        .unwrap();
    let publication = publisher.publish().await.unwrap();
    let grants = Grants {
        join: true,
        subscribe: true,
        ..Default::default()
    };
    let token = server.token("patient", room, grants);
    let subscriber = SyntheticClient::join_with(&server.ws_url, &token, room, relay)
        .await
        .unwrap();
    let sid = &publisher.you.sid;
    parley_e2e::two_tracks_flowing(&subscriber, sid, 60, Duration::from_secs(30))
        .await
        .unwrap_or_else(|err| panic!("{err}; coturn log:\n{}", coturn.log()));
    publisher.stop_media();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let view = subscriber.view();
    for track in &view.participants[&publisher.you.sid].tracks {
        // Not from the first keyframe: the first packets the server relays to a fresh
        // allocation can be lost before the client's TURN side binds its channel (a browser
        // then asks for a keyframe); from the first one that arrives, nothing is missing.
        parley_e2e::assert_contiguous(&view.received[&track.sid], &publication);
    }
    // Both sessions allocated relays with Parley's credentials (username `<expiry>:<random>`).
    let log = coturn.log();
    assert!(
        log.matches("ALLOCATE processed, success").count() >= 2,
        "{log}"
    );
    assert!(
        !log.contains("nurse") && !log.contains("patient"),
        "no identity reaches the TURN server: {log}"
    );
    subscriber.close().await;
    publisher.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_answers_carry_the_turn_servers_as_link_headers() {
    let coturn = Coturn::start(TURN_SECRET);
    let server = server_with(&coturn).await;
    let offer = offer_sdp(&[(
        "audio",
        "sendonly",
        &[(111, "opus/48000/2")],
        &["a=msid:s a"],
    )]);
    let response = reqwest::Client::new()
        .post(format!("{}/whip/studio", server.base_url))
        .bearer_auth(server.token("obs", "studio", publisher_grants()))
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let links: Vec<String> = response
        .headers()
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    let link = &links[0];
    assert!(
        link.starts_with(&format!(
            "<{}>; rel=\"ice-server\"; username=\"",
            coturn.url()
        )),
        "{link}"
    );
    assert!(link.ends_with("; credential-type=\"password\""), "{link}");
    let username = link
        .split("username=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let credential = link
        .split("credential=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(
        credential,
        signaling::turn::password(TURN_SECRET.as_bytes(), username)
    );
    server.stop().await;
}

/// A client reachable only through a relay whose address is outside `--peer-allowlist`: its
/// checks reach Parley through coturn, but nothing is ever sent back there (counted), so its
/// connection never comes up and is given up at the connect deadline; nothing stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_peers_outside_the_allowlist_get_nothing_and_are_given_up() {
    let coturn = Coturn::start(TURN_SECRET);
    let url = coturn.url();
    let server = TestServer::start_with(move |args| {
        args.turn_url = Some(vec![url]);
        args.turn_secret = Some(TURN_SECRET.into());
        // coturn relays from 127.0.0.1; media may only go to 127.0.0.2.
        args.peer_allowlist = Some(vec!["127.0.0.2/32".into()]);
        args.connect_timeout_secs = Some(2);
    })
    .await;
    let relay = ClientOptions { relay_only: true };
    let token = server.token("visitor", "ward", Grants::participant());
    let mut client = SyntheticClient::join_with(&server.ws_url, &token, "ward", relay)
        .await
        .unwrap();
    assert!(
        client.publish().await.is_err(),
        "no connection through the relay"
    );
    let base = &server.base_url;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while parley_e2e::metric(base, "parley_connect_timeouts_total").await < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "given up at the connect deadline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(parley_e2e::metric(base, "parley_blocked_sends_total").await > 0.0);
    assert_eq!(
        parley_e2e::metric(base, "parley_peer_connections").await,
        0.0
    );
    let log = coturn.log();
    assert!(
        log.contains("ALLOCATE processed, success"),
        "coturn relayed, Parley refused: {log}"
    );
    server.stop().await;
}
