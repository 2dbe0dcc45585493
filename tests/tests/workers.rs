//! Media workers through the real server: with two workers, two rooms open on different
//! workers (each on the least loaded), share the one UDP port, and each forwards its media
//! byte for byte, in order, nothing lost; requests that concern every room (the room list)
//! gather both workers' answers. A room past `--room-spread-at` spreads to the other worker,
//! whose subscriber gets the publisher's media, relayed between workers, just as intact.
//! Per-worker figures come from `/metrics`.

use loadtest::{Publication, SyntheticClient};
use parley_e2e::{metric, TestServer};
use signaling::auth::Grants;
use std::num::NonZeroUsize;
use std::time::Duration;

struct Room {
    publisher: SyntheticClient,
    publication: std::sync::Arc<Publication>,
    subscriber: SyntheticClient,
}

async fn open_room(server: &TestServer, room: &str) -> Room {
    let token = server.token(&format!("{room}-pub"), room, Grants::participant());
    let mut publisher = SyntheticClient::join(&server.ws_url, &token, room)
        .await
        .unwrap();
    let publication = publisher.publish().await.unwrap();
    let grants = Grants {
        join: true,
        subscribe: true,
        ..Default::default()
    };
    let token = server.token(&format!("{room}-sub"), room, grants);
    let subscriber = SyntheticClient::join(&server.ws_url, &token, room)
        .await
        .unwrap();
    Room {
        publisher,
        publication,
        subscriber,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_on_two_workers_forward_intact_through_one_port() {
    let server = TestServer::start_with(|args| {
        args.media_workers = NonZeroUsize::new(2);
    })
    .await;
    let rooms = [
        open_room(&server, "north").await,
        open_room(&server, "south").await,
    ];
    for room in &rooms {
        let sid = &room.publisher.you.sid;
        parley_e2e::two_tracks_flowing(&room.subscriber, sid, 60, Duration::from_secs(20))
            .await
            .unwrap();
    }
    // Each room went to its own worker, and both workers forwarded from the shared port.
    for worker in ["0", "1"] {
        let participants = format!("parley_media_worker_participants{{worker=\"{worker}\"}}");
        assert_eq!(
            metric(&server.base_url, &participants).await,
            2.0,
            "{participants}"
        );
        let sent = format!("parley_media_worker_sent_datagrams_total{{worker=\"{worker}\"}}");
        // At least the 2 × 60 packets the subscriber counted, from this worker's socket.
        let sent_count = metric(&server.base_url, &sent).await;
        assert!(sent_count >= 120.0, "{sent} {sent_count}");
    }
    assert_eq!(server.server.media_addrs.len(), 1, "one media port");
    // The room list asks every worker.
    let listed = server.rooms().await;
    for name in ["north", "south"] {
        let room = listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed: {listed}"));
        assert_eq!(room["participants"], 2, "{listed}");
    }
    for room in &rooms {
        room.publisher.stop_media();
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    for room in &rooms {
        let view = room.subscriber.view();
        let tracks = &view.participants[&room.publisher.you.sid].tracks;
        assert_eq!(tracks.len(), 2);
        for track in tracks {
            parley_e2e::assert_intact(&view.received[&track.sid], &room.publication);
        }
    }
    assert_eq!(
        metric(&server.base_url, "parley_media_worker_queue_drops_total").await,
        0.0
    );
    for room in rooms {
        room.subscriber.close().await;
        room.publisher.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spread_over_two_workers_forwards_intact_to_both() {
    let server = TestServer::start_with(|args| {
        args.media_workers = NonZeroUsize::new(2);
        args.room_spread_at = Some(2);
    })
    .await;
    // The publisher and the first subscriber fill worker 0's share; the second goes to 1.
    let room = open_room(&server, "lesson").await;
    let grants = Grants {
        join: true,
        subscribe: true,
        ..Default::default()
    };
    let token = server.token("lesson-far", "lesson", grants);
    let far = SyntheticClient::join(&server.ws_url, &token, "lesson")
        .await
        .unwrap();
    let sid = &room.publisher.you.sid;
    for subscriber in [&room.subscriber, &far] {
        parley_e2e::two_tracks_flowing(subscriber, sid, 60, Duration::from_secs(20))
            .await
            .unwrap();
    }
    for (worker, participants) in [("0", 2.0), ("1", 1.0)] {
        let gauge = format!("parley_media_worker_participants{{worker=\"{worker}\"}}");
        assert_eq!(
            metric(&server.base_url, &gauge).await,
            participants,
            "{gauge}"
        );
    }
    assert!(metric(&server.base_url, "parley_relayed_packets_total").await >= 120.0);
    assert_eq!(metric(&server.base_url, "parley_rooms").await, 1.0);
    assert_eq!(metric(&server.base_url, "parley_participants").await, 3.0);
    // The publisher's worker announced the subscriber that joined on the other one.
    let far_sid = far.you.sid.clone();
    room.publisher
        .wait_until("far listed", Duration::from_secs(5), move |v| {
            v.participants.contains_key(&far_sid)
        })
        .await
        .unwrap();
    let listed = server.rooms().await;
    let rooms = listed["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1, "one room, listed once: {listed}");
    assert_eq!(rooms[0]["participants"], 3, "{listed}");

    room.publisher.stop_media();
    tokio::time::sleep(Duration::from_millis(700)).await;
    for subscriber in [&room.subscriber, &far] {
        let view = subscriber.view();
        let tracks = &view.participants[sid].tracks;
        assert_eq!(tracks.len(), 2);
        for track in tracks {
            parley_e2e::assert_intact(&view.received[&track.sid], &room.publication);
        }
    }
    assert_eq!(
        metric(&server.base_url, "parley_relay_drops_total").await,
        0.0
    );
    far.close().await;
    room.subscriber.close().await;
    room.publisher.close().await;
    server.stop().await;
}
