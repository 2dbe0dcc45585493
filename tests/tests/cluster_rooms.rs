//! Rooms over several nodes (PostgreSQL for the room claims, NATS between nodes): a room is
//! held by one node; a client whose socket is on another node joins it there, its signaling
//! relayed over NATS, its media straight to the room's node, and what it receives is byte for
//! byte what was published. When the room's node stops, its relayed participants are told to
//! rejoin (`goodbye {reason: "migrate"}`) and their rejoin places the room on a live node.

use loadtest::SyntheticClient;
use parley_e2e::cluster::{node, node_with, Database, OwnNats};
use parley_e2e::{metric, RawSocket, TestServer};
use signaling::auth::Grants;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn join(room: &str) -> String {
    serde_json::json!({"type": "join", "id": "join", "room": room}).to_string()
}

/// A socket on `node` for `identity`, joined to `room`, and the `joined` reply.
async fn in_room(node: &TestServer, identity: &str, room: &str) -> (RawSocket, serde_json::Value) {
    let mut socket = RawSocket::connect(&node.ws_url).await;
    socket
        .hello(&node.token(identity, room, Grants::participant()))
        .await;
    let joined = socket.request(join(room)).await;
    assert_eq!(joined["type"], "joined", "{identity} in {room}: {joined}");
    (socket, joined)
}

/// Polls `name` on `base` until it is `want`.
async fn metric_becomes(base: &str, name: &str, want: f64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = metric(base, name).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} on {base}: {got}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_its_parties_on_two_nodes_forwards_intact_both_ways() {
    let db = Database::fresh();
    let nodes = [node("r1", &db).await, node("r2", &db).await];
    let room = "consult";
    // The doctor's socket is on node 1, which holds the room (the least loaded: itself).
    let token = nodes[0].token("doctor", room, Grants::participant());
    let mut doctor = SyntheticClient::join(&nodes[0].ws_url, &token, room)
        .await
        .unwrap();
    let publication = doctor.publish().await.unwrap();
    // The patient's socket is on node 2: the join, the offers, answers and candidates are
    // relayed to node 1, and the media flows both ways through node 1's port.
    let token = nodes[1].token("patient", room, Grants::participant());
    let mut patient = SyntheticClient::join(&nodes[1].ws_url, &token, room)
        .await
        .unwrap();
    let from_patient = patient.publish().await.unwrap();
    let sid = &doctor.you.sid;
    parley_e2e::two_tracks_flowing(&patient, sid, 60, WAIT)
        .await
        .unwrap();
    parley_e2e::two_tracks_flowing(&doctor, &patient.you.sid, 60, WAIT)
        .await
        .unwrap();
    assert_eq!(
        metric(&nodes[0].base_url, "parley_cluster_relayed_sessions").await,
        1.0
    );
    // Both publisher and subscriber connections, all four on node 1.
    assert_eq!(
        metric(&nodes[0].base_url, "parley_peer_connections").await,
        4.0
    );
    assert_eq!(
        metric(&nodes[1].base_url, "parley_peer_connections").await,
        0.0
    );
    assert_eq!(
        metric(&nodes[1].base_url, "parley_rooms").await,
        0.0,
        "no room on node 2"
    );
    doctor.stop_media();
    patient.stop_media();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pairs = [
        (&patient, sid.as_str(), &publication),
        (&doctor, patient.you.sid.as_str(), &from_patient),
    ];
    for (receiver, from, sent) in pairs {
        let view = receiver.view();
        let tracks = &view.participants[from].tracks;
        assert_eq!(tracks.len(), 2);
        for track in tracks {
            parley_e2e::assert_intact(&view.received[&track.sid], sent);
        }
    }
    // The patient's socket closing ends the session held for it on node 1.
    patient.close().await;
    metric_becomes(&nodes[0].base_url, "parley_cluster_relayed_sessions", 0.0).await;
    metric_becomes(&nodes[0].base_url, "parley_participants", 1.0).await;
    doctor.close().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_node_stopping_sends_its_relayed_participants_to_rejoin_on_a_live_node() {
    let db = Database::fresh();
    let mut nodes = vec![node("s1", &db).await, node("s2", &db).await];
    let room = "lesson";
    let (mut teacher, _) = in_room(&nodes[0], "teacher", room).await;

    let (mut pupil, joined) = in_room(&nodes[1], "pupil", room).await;

    assert!(
        joined["resume_token"].is_null(),
        "no resume across nodes: {joined}"
    );
    let others: Vec<_> = joined["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].clone())
        .collect();
    assert_eq!(others, ["teacher"], "{joined}");
    // A request after the join goes to the room's node too.
    let left_teacher = async {
        loop {
            let event = teacher.recv().await;
            if event["type"] == "participant_joined" {
                return event;
            }
        }
    };
    assert_eq!(left_teacher.await["participant"]["identity"], "pupil");

    let stopped = Instant::now();
    nodes.remove(0).stop().await;
    let goodbye = loop {
        let event = pupil.recv().await;
        if event["type"] == "goodbye" {
            break event;
        }
    };
    assert_eq!(goodbye["reason"], "migrate", "{goodbye}");
    assert!(
        pupil.closed().await.is_some(),
        "the socket closes after the goodbye"
    );
    // The pupil's SDK would reconnect and join again: the room is placed on the live node.
    let (mut pupil, rejoined) = in_room(&nodes[0], "pupil", room).await;

    let back_in = stopped.elapsed();
    assert!(
        !rejoined["resume_token"].is_null(),
        "a local room again: {rejoined}"
    );
    assert_eq!(metric(&nodes[0].base_url, "parley_rooms").await, 1.0);
    eprintln!("back in the room on the live node {back_in:?} after its node began stopping");
    pupil.close().await;
    nodes.remove(0).stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_api_answers_for_every_room_from_any_node() {
    let db = Database::fresh();
    let nodes = [node("a1", &db).await, node("a2", &db).await];
    let http = reqwest::Client::new();
    let admin = nodes[1].admin_token();
    let api = |path: &str| format!("{}/api/{path}", nodes[1].base_url);
    // Node 2 holds a room, so it is the busier once the nodes heard each other.
    let (mut pupil, _) = in_room(&nodes[1], "pupil", "yard").await;

    metric_becomes(&nodes[1].base_url, "parley_cluster_nodes", 2.0).await;
    metric_becomes(
        &nodes[1].base_url,
        r#"parley_cluster_node_rooms{node="a1"}"#,
        0.0,
    )
    .await;

    // Created through node 2, placed on node 1 (the least loaded), which holds its settings.
    let created = http
        .post(api("rooms"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "clinic", "max_participants": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["max_participants"], 5, "{created}");
    let (mut patient, _) = in_room(&nodes[1], "patient", "clinic").await;

    assert_eq!(
        metric(&nodes[0].base_url, "parley_participants").await,
        1.0,
        "on node 1"
    );

    // Node 2 lists every node's rooms and answers about node 1's.
    let list = nodes[1].rooms().await;
    let rooms: Vec<_> = list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["participants"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rooms, [("clinic".into(), 1), ("yard".into(), 1)], "{list}");
    let people: serde_json::Value = http
        .get(api("rooms/clinic/participants"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(people["participants"][0]["identity"], "patient", "{people}");
    let removed = http
        .delete(api("rooms/clinic/participants/patient"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let goodbye = loop {
        let event = patient.recv().await;
        if event["type"] == "goodbye" {
            break event;
        }
    };
    assert_eq!(goodbye["reason"], "removed", "{goodbye}");
    let ended = http
        .delete(api("rooms/clinic"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let gone = http
        .get(api("rooms/clinic"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    // Without the admin grant nothing crosses.
    let refused = http
        .get(api("rooms/clinic/participants"))
        .bearer_auth(nodes[1].token("pupil", "clinic", Grants::participant()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    pupil.close().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_opens_no_new_room_and_stops_once_its_rooms_empty() {
    let db = Database::fresh();
    let mut nodes = vec![node("d1", &db).await, node("d2", &db).await];
    let (mut teacher, _) = in_room(&nodes[0], "teacher", "lesson").await;

    let leave = serde_json::json!({"type": "leave", "id": "leave"}).to_string();
    metric_becomes(&nodes[0].base_url, "parley_cluster_nodes", 2.0).await;

    let started = Instant::now();
    let drain = nodes[0].server.drain(WAIT);
    let meanwhile = async {
        // A room already on the draining node still takes people...
        let (mut pupil, joined) = in_room(&nodes[0], "pupil", "lesson").await;

        assert!(!joined["resume_token"].is_null(), "on this node: {joined}");
        // ...but a new one opens on the other node, even for a socket on this one.
        let (_late, joined) = in_room(&nodes[0], "late", "other").await;

        assert!(joined["resume_token"].is_null(), "relayed: {joined}");
        assert_eq!(metric(&nodes[1].base_url, "parley_rooms").await, 1.0);
        // The lesson ends: the drain is over.
        for socket in [&mut teacher, &mut pupil] {
            assert_eq!(socket.request(leave.clone()).await["type"], "ok");
        }
        Instant::now()
    };
    let ((), emptied) = tokio::join!(drain, meanwhile);
    let drained = started.elapsed();
    assert!(
        drained < WAIT,
        "the drain ended with the last room, not its timeout: {drained:?}"
    );
    eprintln!(
        "drain over {:?} after the last room emptied",
        emptied.elapsed()
    );
    nodes.remove(0).stop().await;
    nodes.remove(0).stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_outage_keeps_relayed_calls_going_and_their_requests_fail_as_unavailable() {
    use loadtest::signal::SignalError;
    use signaling::protocol::{ClientMessage, ErrorCode};
    let db = Database::fresh();
    let nats = OwnNats::start_anywhere().await;
    let (port, url) = (nats.port, nats.url());
    let nodes = [
        node_with("o1", &db, |a| a.nats_url = Some(vec![url.clone()])).await,
        node_with("o2", &db, |a| a.nats_url = Some(vec![url.clone()])).await,
    ];
    let token = nodes[0].token("doctor", "visit", Grants::participant());
    let mut doctor = SyntheticClient::join(&nodes[0].ws_url, &token, "visit")
        .await
        .unwrap();
    let publication = doctor.publish().await.unwrap();
    let token = nodes[1].token("patient", "visit", Grants::participant());
    let patient = SyntheticClient::join(&nodes[1].ws_url, &token, "visit")
        .await
        .unwrap();
    let sid = doctor.you.sid.clone();
    let view = parley_e2e::two_tracks_flowing(&patient, &sid, 30, WAIT)
        .await
        .unwrap();
    metric_becomes(&nodes[1].base_url, "parley_cluster_nodes", 2.0).await;
    let track = view.participants[&sid].tracks[0].sid.clone();
    let update = |id| ClientMessage::UpdateSubscription {
        id,
        track: track.clone(),
        paused: false,
        max_layer: None,
        width: None,
        height: None,
    };
    let received =
        |view: &loadtest::RoomView| -> u64 { view.received.values().map(|r| r.packets).sum() };

    drop(nats);
    let refused = patient.signaling().request(update).await;
    assert!(
        matches!(
            &refused,
            Err(SignalError::Refused {
                code: ErrorCode::Unavailable,
                ..
            })
        ),
        "{refused:?}"
    );
    // Longer than a node's silence may last: nobody is declared gone for NATS being down,
    // and the media, which never crosses NATS, keeps flowing.
    let before = received(&patient.view());
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(
        received(&patient.view()) > before + 100,
        "media kept flowing"
    );
    assert_eq!(
        metric(&nodes[0].base_url, "parley_cluster_relayed_sessions").await,
        1.0
    );
    assert_eq!(
        metric(&nodes[1].base_url, "parley_cluster_nodes").await,
        2.0
    );

    let _nats = OwnNats::start(port).await;
    let deadline = Instant::now() + WAIT;
    while patient.signaling().request(update).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "relayed requests work again once NATS is back"
        );
    }
    doctor.stop_media();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let view = patient.view();
    for track in &view.participants[&sid].tracks {
        parley_e2e::assert_intact(&view.received[&track.sid], &publication);
    }
    patient.close().await;
    doctor.close().await;
    for node in nodes {
        node.stop().await;
    }
}
