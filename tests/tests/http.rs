//! The HTTP surface: health, metrics format, guest tokens (and their validation), the web app.

use parley_e2e::TestServer;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_tokens_health_metrics_and_app() {
    let server = TestServer::start_with(|args| args.guest_tokens = Some(true)).await;
    let http = reqwest::Client::new();
    let base = &server.base_url;

    let response = http
        .post(format!("{base}/api/guest-token"))
        .json(&json!({"name": "Ana", "room": "standup"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = server
        .server
        .tokens()
        .verify(
            body["token"].as_str().unwrap(),
            signaling::auth::Audience::Participant,
        )
        .unwrap();
    assert_eq!(
        (claims.name.as_str(), claims.room.as_str()),
        ("Ana", "standup")
    );
    assert!(claims.sub.starts_with("guest-") && claims.sub == body["identity"]);
    assert!(claims.guest && claims.grants == signaling::auth::Grants::guest());
    assert!(claims.grants.publish && !claims.grants.chat && !claims.grants.watch);

    for (request, code) in [
        (json!({"name": "", "room": "r"}), "invalid_name"),
        (json!({"name": "Ana", "room": "../etc"}), "invalid_room"),
        (json!({"room": "r"}), "bad_request"),
    ] {
        let response = http
            .post(format!("{base}/api/guest-token"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
    }

    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "parley_rooms",
        "parley_participants",
        "parley_published_tracks",
        "parley_forwarded_packets_total",
        "parley_forwarded_bytes_total",
        "parley_ws_connections",
        "parley_layer_switches_total",
        "parley_dynacast_changes_total",
        "parley_keyframe_wait_seconds",
        "parley_subscriber_downlink_estimate_bps",
        "parley_congestion_events_total",
        "parley_webhooks_total",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{metrics}"
        );
    }

    let index = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(index.headers()["content-type"], "text/html");
    assert!(index.text().await.unwrap().contains("/app/app.js"));
    let sdk = http
        .get(format!("{base}/sdk/parley.js"))
        .send()
        .await
        .unwrap();
    assert!(sdk.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(sdk
        .text()
        .await
        .unwrap()
        .contains("export class ParleyClient"));
    let missing = http.get(format!("{base}/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // The example apps are served from their folders.
    for example in ["telehealth", "classroom"] {
        let page = http
            .get(format!("{base}/examples/{example}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{example}");
        assert_eq!(page.headers()["content-type"], "text/html");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_tokens_are_off_by_default() {
    let server = TestServer::start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/guest-token", server.base_url))
        .json(&json!({"name": "Ana", "room": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "guest_tokens_disabled");
    server.stop().await;
}
