//! The server API for apps through the real server: its authorization, rooms (create, cap,
//! end), participants (list, mute, remove), tokens and the OpenAPI document. Webhooks are in
//! `webhooks.rs`.

use loadtest::signal::SignalError;
use loadtest::{ClientError, SyntheticClient};
use parley_e2e::TestServer;
use serde_json::{json, Value};
use signaling::auth::Grants;
use signaling::protocol::ErrorCode;
use std::time::Duration;

async fn call(
    server: &TestServer,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_participants_and_tokens_for_apps() {
    let server = TestServer::start().await;
    let admin = server.admin_token();
    let participant = server.token("ana", "clinic", Grants::participant());
    // Authorization: none, garbage, a participant's token.
    for (token, status, code) in [
        (None, 401, "not_authenticated"),
        (Some("garbage"), 401, "invalid_token"),
        (Some(participant.as_str()), 403, "forbidden"),
    ] {
        let (got, body) = call(&server, token, reqwest::Method::GET, "/api/rooms", None).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)));
    }

    let (status, room) = call(
        &server,
        Some(&admin),
        reqwest::Method::POST,
        "/api/rooms",
        Some(json!({"name": "clinic", "max_participants": 2})),
    )
    .await;
    assert_eq!(status, 201, "{room}");
    let (status, _) = call(
        &server,
        Some(&admin),
        reqwest::Method::POST,
        "/api/rooms",
        Some(json!({"name": "clinic"})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, body) = call(
        &server,
        Some(&admin),
        reqwest::Method::POST,
        "/api/rooms",
        Some(json!({"name": "bad name!"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );

    // Tokens minted by the API join the room; the third person finds it full.
    let mint = |identity: &'static str| {
        let admin = admin.clone();
        let server = &server;
        async move {
            let (status, body) = call(
                server,
                Some(&admin),
                reqwest::Method::POST,
                "/api/tokens",
                Some(json!({"identity": identity, "room": "clinic"})),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let mut doctor = SyntheticClient::join(&server.ws_url, &mint("doctor").await, "clinic")
        .await
        .unwrap();
    doctor.publish().await.unwrap();
    let patient = SyntheticClient::join(&server.ws_url, &mint("patient").await, "clinic")
        .await
        .unwrap();
    match SyntheticClient::join(&server.ws_url, &mint("intruder").await, "clinic").await {
        Err(ClientError::Signal(SignalError::Refused { code, .. })) => {
            assert_eq!(code, ErrorCode::RoomFull)
        }
        Err(other) => panic!("expected room_full, got {other}"),
        Ok(_) => panic!("expected room_full, got in"),
    }
    let (status, body) = call(
        &server,
        Some(&admin),
        reqwest::Method::POST,
        "/api/tokens",
        Some(json!({"identity": "x", "room": "clinic", "grants": ["admin"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let doctor_sid = doctor.you.sid.clone();
    patient
        .wait_until(
            "the patient receives the doctor",
            Duration::from_secs(20),
            {
                let sid = doctor_sid.clone();
                move |v| {
                    v.participants.get(&sid).is_some_and(|p| {
                        p.tracks.len() == 2
                            && p.tracks
                                .iter()
                                .all(|t| v.received.get(&t.sid).is_some_and(|r| r.packets > 10))
                    })
                }
            },
        )
        .await
        .unwrap();
    let (status, list) = call(
        &server,
        Some(&admin),
        reqwest::Method::GET,
        "/api/rooms/clinic/participants",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let mut identities: Vec<&str> = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    identities.sort();
    assert_eq!(identities, vec!["doctor", "patient"]);
    let (_, room) = call(
        &server,
        Some(&admin),
        reqwest::Method::GET,
        "/api/rooms/clinic",
        None,
    )
    .await;
    assert_eq!(room["participants"], 2);

    // Server-side mute: the patient is told, and the doctor's audio stops arriving.
    let (status, _) = call(
        &server,
        Some(&admin),
        reqwest::Method::POST,
        "/api/rooms/clinic/participants/doctor/mute",
        Some(json!({"kind": "audio"})),
    )
    .await;
    assert_eq!(status, 204);
    let audio = patient.view().participants[&doctor_sid]
        .tracks
        .iter()
        .find(|t| t.kind == signaling::protocol::TrackKind::Audio)
        .unwrap()
        .sid
        .clone();
    let muted_audio = audio.clone();
    patient
        .wait_until(
            "told the doctor's audio is muted",
            Duration::from_secs(5),
            {
                let sid = doctor_sid.clone();
                move |v| {
                    v.participants[&sid]
                        .tracks
                        .iter()
                        .any(|t| t.sid == muted_audio && t.muted)
                }
            },
        )
        .await
        .unwrap();
    // Nothing of a force-muted track is forwarded: sfu/tests/absence.rs, on virtual time.

    // Removal: the patient leaves the room; the doctor sees them go.
    let (status, _) = call(
        &server,
        Some(&admin),
        reqwest::Method::DELETE,
        "/api/rooms/clinic/participants/patient",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let patient_sid = patient.you.sid.clone();
    doctor
        .wait_until("patient removed", Duration::from_secs(5), move |v| {
            !v.participants.contains_key(&patient_sid)
        })
        .await
        .unwrap();
    let (status, _) = call(
        &server,
        Some(&admin),
        reqwest::Method::DELETE,
        "/api/rooms/clinic/participants/patient",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Ending the room removes everyone and closes it.
    let (status, _) = call(
        &server,
        Some(&admin),
        reqwest::Method::DELETE,
        "/api/rooms/clinic",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &server,
        Some(&admin),
        reqwest::Method::GET,
        "/api/rooms/clinic",
        None,
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_valid() {
    let server = TestServer::start().await;
    let (status, doc) = call(
        &server,
        None,
        reqwest::Method::GET,
        "/api/openapi.json",
        None,
    )
    .await;
    assert_eq!(status, 200);
    for (method, path) in signaling::admin::DOCUMENTED_ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    // The reference validator, when the test command installed it (scripts/test.sh does).
    let required = std::env::var_os("PARLEY_REQUIRE_OPENAPI_VALIDATOR").is_some();
    let file = std::env::temp_dir().join(format!("parley-openapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output();
    let _ = std::fs::remove_file(&file);
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output)
            if required || !String::from_utf8_lossy(&output.stderr).contains("No module named") =>
        {
            panic!(
                "openapi-spec-validator refused the document: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        }
        _ => eprintln!("openapi-spec-validator not installed: structural checks only"),
    }
    server.stop().await;
}
