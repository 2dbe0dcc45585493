//! Signaling's rules, driven in memory: sessions (`Session::handle_text`, the same code a
//! WebSocket feeds) on a real `AppState` whose media plane is `sfu::spawn_in_memory` (no
//! sockets, no HTTP, no sleeps). Authentication, grants, join rules, admission under racing
//! joins, publishing. The WebSocket wiring itself is tested end to end in `tests/`.

use serde_json::{json, Value};
use signaling::auth::Grants;
use signaling::config::{Config, ServeArgs};
use signaling::rooms::RoomConfig;
use signaling::session::Session;
use signaling::state::AppState;
use std::time::Duration;

const SECRET: &str = "in-memory-sessions-secret-0123456789abcdef";

/// A node's shared state with the in-memory media plane and a fresh SQLite store.
async fn state() -> (AppState, tempfile_dir::Dir) {
    let dir = tempfile_dir::Dir::new();
    let args = ServeArgs {
        public_ip: Some(vec!["127.0.0.1".parse().unwrap()]),
        udp_port: Some(7882),
        data_dir: Some(dir.path().to_owned()),
        jwt_secret: Some(SECRET.into()),
        ..Default::default()
    };
    let config = Config::resolve(args).expect("config");
    let sfu = sfu::spawn_in_memory(&config.sfu_config());
    let (_, shutdown) = tokio::sync::watch::channel(false);
    let state = signaling::assemble(config, sfu, shutdown)
        .await
        .expect("state");
    (state, dir)
}

fn token(state: &AppState, identity: &str, room: &str, grants: Grants) -> String {
    state
        .tokens
        .mint(identity, identity, room, grants, Duration::from_secs(600))
        .expect("mint")
}

/// Sends one request; returns the reply as JSON.
async fn send(session: &mut Session, request: Value) -> Value {
    let reply = session.handle_text(&request.to_string()).await;
    serde_json::to_value(reply).expect("json")
}

fn hello(token: &str) -> Value {
    json!({"type": "hello", "id": "h", "version": 1, "token": token})
}

fn join(room: &str) -> Value {
    json!({"type": "join", "id": "j", "room": room})
}

/// The reply's error code, or its type when it is not an error.
fn outcome(reply: &Value) -> String {
    match reply["type"].as_str() {
        Some("error") => reply["code"].as_str().unwrap_or_default().to_owned(),
        other => other.unwrap_or_default().to_owned(),
    }
}

#[tokio::test]
#[rustfmt::skip]
async fn requests_are_refused_with_the_code_their_fault_deserves() {
    let (state, _dir) = state().await;
    let good = token(&state, "ana", "ward", Grants::participant());
    let foreign = signaling::auth::TokenAuthority::new(b"another-secret-another-secret-0123456789")
        .mint("ana", "ana", "ward", Grants::participant(), Duration::from_secs(600))
        .unwrap();
    let no_join = token(&state, "ana", "ward", Grants { join: false, ..Grants::participant() });
    let no_publish = token(&state, "ana", "ward", Grants { publish: false, ..Grants::participant() });
    let offer = json!({"type": "publish", "id": "p", "sdp": chromium_offer()});
    // (what, requests before the one judged, the judged request, expected outcome)
    let rows: Vec<(&str, Vec<Value>, Value, &str)> = vec![
        ("join before hello",          vec![],                                  join("ward"),                                                        "not_authenticated"),
        ("unknown version",            vec![],                                  json!({"type": "hello", "id": "h", "version": 9, "token": good}), "unsupported_version"),
        ("garbage token",              vec![],                                  hello("not-a-jwt"),                                                  "invalid_token"),
        ("another server's token",     vec![],                                  hello(&foreign),                                                     "invalid_token"),
        ("hello twice",                vec![hello(&good)],                      hello(&good),                                                        "already_authenticated"),
        ("welcome",                    vec![],                                  hello(&good),                                                        "welcome"),
        ("no join grant",              vec![hello(&no_join)],                   join("ward"),                                                        "forbidden"),
        ("another room",               vec![hello(&good)],                      join("lobby"),                                                       "wrong_room"),
        ("joined",                     vec![hello(&good)],                      join("ward"),                                                        "joined"),
        ("join twice",                 vec![hello(&good), join("ward")],        join("ward"),                                                        "already_in_room"),
        ("publish outside a room",     vec![hello(&good)],                      offer.clone(),                                                       "not_in_room"),
        ("publish without the grant",  vec![hello(&no_publish), join("ward")],  offer.clone(),                                                       "forbidden"),
        ("publish",                    vec![hello(&good), join("ward")],        offer,                                                               "publish_answer"),
        ("answer with nothing offered",vec![hello(&good), join("ward")],        json!({"type": "subscribe_answer", "id": "a", "sdp": "v=0"}),        "no_pending_offer"),
        ("ICE restart before an offer",vec![hello(&good), join("ward")],        json!({"type": "restart_ice", "id": "r"}),                           "unknown_session"),
        ("leave outside a room",       vec![hello(&good)],                      json!({"type": "leave", "id": "l"}),                                 "not_in_room"),
        ("unknown type",               vec![hello(&good)],                      json!({"type": "teleport", "id": "t"}),                              "unknown_type"),
    ];
    for (what, before, request, want) in rows {
        let mut session = Session::new(state.clone());
        for earlier in before {
            send(&mut session, earlier).await;
        }
        let reply = send(&mut session, request).await;
        assert_eq!(outcome(&reply), want, "{what}: {reply}");
        session.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_joins_fill_a_capped_room_exactly() {
    let (state, _dir) = state().await;
    state.rooms.create(RoomConfig {
        name: "consult".into(),
        max_participants: Some(2),
        audio_only: false,
        empty_timeout: Duration::from_secs(30),
        created_at_ms: 0,
        explicit: true,
    });
    let mut sessions = Vec::new();
    for n in 0..6 {
        let mut session = Session::new(state.clone());
        let token = token(&state, &format!("p{n}"), "consult", Grants::participant());
        assert_eq!(outcome(&send(&mut session, hello(&token)).await), "welcome");
        sessions.push(session);
    }
    let joins = sessions
        .iter_mut()
        .map(|session| async move { outcome(&send(session, join("consult")).await) });
    let mut outcomes = futures_util::future::join_all(joins).await;
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            "joined",
            "joined",
            "room_full",
            "room_full",
            "room_full",
            "room_full"
        ]
    );
    for mut session in sessions {
        session.close().await;
    }
}

#[tokio::test]
async fn the_room_hears_of_a_join_and_a_leave_through_the_media_plane() {
    let (state, _dir) = state().await;
    let mut ana = Session::new(state.clone());
    send(
        &mut ana,
        hello(&token(&state, "ana", "ward", Grants::participant())),
    )
    .await;
    send(&mut ana, join("ward")).await;
    let mut ben = Session::new(state.clone());
    send(
        &mut ben,
        hello(&token(&state, "ben", "ward", Grants::participant())),
    )
    .await;
    let joined = send(&mut ben, join("ward")).await;
    assert_eq!(joined["participants"][0]["identity"], "ana", "{joined}");
    let ben_sid = joined["you"]["sid"].as_str().unwrap().to_owned();
    let event = next_event(&mut ana).await;
    assert_eq!(event["type"], "participant_joined");
    assert_eq!(event["participant"]["sid"], ben_sid.as_str());
    assert_eq!(
        outcome(&send(&mut ben, json!({"type": "leave", "id": "l"})).await),
        "ok"
    );
    let event = next_event(&mut ana).await;
    assert_eq!(event["type"], "participant_left");
    assert_eq!(event["sid"], ben_sid.as_str());
    ana.close().await;
}

/// The next media event of a joined session, as the client would get it.
async fn next_event(session: &mut Session) -> Value {
    let events = session.events.as_mut().expect("in a room");
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event")
        .expect("queue open");
    let message = session.event_message(event).expect("a client message");
    serde_json::to_value(message).expect("json")
}

/// Chromium's offer for a camera and a microphone (three simulcast layers).
fn chromium_offer() -> &'static str {
    include_str!("../../sfu/tests/fixtures/sdp/chromium-simulcast-offer.sdp")
}

/// A directory removed when dropped.
mod tempfile_dir {
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new() -> Self {
            use rand::distr::{Alphanumeric, SampleString};
            let name = Alphanumeric.sample_string(&mut rand::rng(), 12);
            let path = std::env::temp_dir().join(format!("parley-sessions-{name}"));
            std::fs::create_dir_all(&path).expect("temp dir");
            Self(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
