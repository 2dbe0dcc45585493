//! The media plane's per-participant event queue is bounded: a session that stops reading its
//! events is cut off (its queue closes) and its participant removed, rather than the queue
//! growing without end. Through the real driver on a loopback UDP port.

use sfu::{event_channel, ParticipantMeta, ParticipantSid, SfuConfig, EVENT_QUEUE};
use std::sync::atomic::Ordering;

fn meta(identity: &str) -> ParticipantMeta {
    ParticipantMeta {
        sid: ParticipantSid::random(),
        identity: identity.to_owned(),
        name: identity.to_owned(),
        can_publish: true,
        can_subscribe: true,
        hidden: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_stops_reading_its_events_is_cut_off() {
    let sfu = sfu::spawn(SfuConfig {
        udp_port: 0,
        peer_allowlist: vec!["127.0.0.0/8".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let (tx, mut stalled) = event_channel();
    sfu.join("r".into(), meta("stalled"), tx).await.unwrap();
    // Visitors come and go: two events each for the stalled session, which never reads them.
    for i in 0..EVENT_QUEUE {
        let (tx, _ignored) = event_channel();
        let visitor = meta(&format!("visitor-{i}"));
        let sid = visitor.sid.clone();
        sfu.join("r".into(), visitor, tx).await.unwrap();
        sfu.leave(sid).await;
    }
    assert_eq!(sfu.stats().event_cutoffs.load(Ordering::Relaxed), 1);
    let people = sfu.room_people("r").await;
    assert!(
        people.iter().all(|p| p.meta.identity != "stalled"),
        "still in the room"
    );
    // What was queued is still there to read; then the queue ends.
    let mut queued = 0;
    while stalled.recv().await.is_some() {
        queued += 1;
    }
    assert_eq!(queued, EVENT_QUEUE);
    sfu.shutdown().await;
}
