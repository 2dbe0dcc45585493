//! The in-memory media plane (`sfu::spawn_in_memory`): the driver's `SfuHandle`, worker,
//! placement and event queues with no sockets, on the caller's runtime. On a paused tokio
//! clock its timers run on virtual time: a connection that never connects is given up after
//! the connect timeout without the test waiting for it.

use sfu::input::{Join, Publish};
use sfu::{ParticipantMeta, ParticipantSid, PeerRole, SfuConfig, SfuEvent};
use std::time::Duration;

fn meta(sid: &ParticipantSid, identity: &str) -> ParticipantMeta {
    ParticipantMeta {
        sid: sid.clone(),
        identity: identity.to_owned(),
        name: identity.to_owned(),
        can_publish: true,
        can_subscribe: true,
        hidden: false,
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_connects_is_given_up_on_virtual_time() {
    let config = SfuConfig::default();
    let sfu = sfu::spawn_in_memory(&config);
    let sid = ParticipantSid::random();
    let (events, mut received) = sfu::event_channel();
    let join = Join {
        room: "ward".into(),
        meta: meta(&sid, "nurse"),
        max_participants: None,
    };
    sfu.join_with_events(join, events).await.expect("join");
    let offer = include_str!("fixtures/sdp/chromium-simulcast-offer.sdp").to_owned();
    let publish = Publish {
        sid: sid.clone(),
        role: PeerRole::Publisher,
        offer,
        sources: Vec::new(),
    };
    let answer = sfu.request(publish).await.expect("answer");
    assert!(answer.contains("a=candidate:"), "host candidates: {answer}");
    assert!(answer.contains(" 127.0.0.1 7882 typ host"), "{answer}");
    let started = tokio::time::Instant::now();
    let reason = loop {
        match received.recv().await.expect("events until removed") {
            SfuEvent::Removed { reason } => break reason,
            _ => continue,
        }
    };
    assert_eq!(reason, "connect_timeout");
    let waited = started.elapsed();
    assert!(
        waited >= config.connect_timeout
            && waited < config.connect_timeout + Duration::from_secs(2),
        "given up after {waited:?} of virtual time"
    );
    assert!(
        received.recv().await.is_none(),
        "its queue closes once it is gone"
    );
    assert_eq!(
        sfu.stats()
            .connect_timeouts
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
