//! The media plane's per-participant event queue is bounded: a session that stops reading its
//! events is cut off (its queue closes) and its participant removed, rather than the queue
//! growing without end. Through the real driver on a loopback UDP port.

use sfu::input::{Join, Leave, RoomPeople};
use sfu::{event_channel, ParticipantMeta, SfuConfig, SfuError, EVENT_QUEUE};
use std::sync::atomic::Ordering;

mod common;
use common::meta;

fn join(meta: ParticipantMeta) -> Join {
    Join {
        room: "r".into(),
        meta,
        max_participants: None,
    }
}

async fn loopback_sfu() -> sfu::SfuHandle {
    sfu::spawn(SfuConfig {
        udp_port: 0,
        peer_allowlist: vec!["127.0.0.0/8".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_stops_reading_its_events_is_cut_off() {
    let sfu = loopback_sfu().await;
    let (tx, mut stalled) = event_channel();
    sfu.join_with_events(join(meta("stalled")), tx)
        .await
        .unwrap();
    // Visitors come and go: two events each for the stalled session, which never reads them.
    for i in 0..EVENT_QUEUE {
        let (tx, _ignored) = event_channel();
        let visitor = meta(&format!("visitor-{i}"));
        let sid = visitor.sid.clone();
        sfu.join_with_events(join(visitor), tx).await.unwrap();
        sfu.request(Leave { sid }).await.unwrap();
    }
    assert_eq!(sfu.stats().event_cutoffs.load(Ordering::Relaxed), 1);
    let people = sfu.request(RoomPeople { room: "r".into() }).await.unwrap();
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

/// A participant's queue closes when the core no longer has them (here: removed), after the
/// events meant for them; a refused join keeps no queue; a stopped media plane refuses every
/// request, reads included, rather than looking like an empty room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_close_with_their_participant_and_a_stopped_plane_refuses_requests() {
    let sfu = loopback_sfu().await;
    let (tx, mut removed) = event_channel();
    let who = meta("removed");
    let sid = who.sid.clone();
    sfu.join_with_events(join(who), tx).await.unwrap();
    let reason = "room_ended".to_owned();
    sfu.request(sfu::input::Remove { sid, reason })
        .await
        .unwrap();
    assert!(matches!(
        removed.recv().await,
        Some(sfu::SfuEvent::Removed { reason }) if reason == "room_ended"
    ));
    assert!(removed.recv().await.is_none(), "the queue closed");

    let (tx, mut refused) = event_channel();
    let capped = Join {
        max_participants: Some(0),
        ..join(meta("late"))
    };
    let refusal = sfu.join_with_events(capped, tx).await;
    assert_eq!(refusal.unwrap_err(), SfuError::RoomFull);
    assert!(
        refused.recv().await.is_none(),
        "a refused join keeps no queue"
    );

    sfu.shutdown().await;
    let people = sfu.request(RoomPeople { room: "r".into() }).await;
    assert_eq!(people.unwrap_err(), SfuError::Stopped);
    let rooms = sfu.request(sfu::input::Rooms).await;
    assert_eq!(rooms.unwrap_err(), SfuError::Stopped);
}
