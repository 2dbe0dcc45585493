//! Media through the real server: one synthetic publisher, two synthetic subscribers, every
//! payload checked byte for byte against what was sent, in order, nothing lost.

use loadtest::{SyntheticClient, TrackReceipt};
use parley_e2e::TestServer;
use signaling::auth::Grants;
use std::time::Duration;

fn receipts_of(client: &SyntheticClient, publisher_sid: &str) -> Vec<TrackReceipt> {
    let view = client.view();
    let tracks = &view.participants[publisher_sid].tracks;
    tracks
        .iter()
        .filter_map(|t| view.received.get(&t.sid).cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_reaches_two_subscribers_intact_in_order() {
    let server = TestServer::start().await;
    let room = "forwarding";
    let mut publisher = SyntheticClient::join(
        &server.ws_url,
        &server.token("pub", room, Grants::participant()),
        room,
    )
    .await
    .unwrap();
    let publication = publisher.publish().await.unwrap();
    let mut subscribers = Vec::new();
    for name in ["sub-1", "sub-2"] {
        let grants = Grants {
            join: true,
            subscribe: true,
            ..Default::default()
        };
        subscribers.push(
            SyntheticClient::join(&server.ws_url, &server.token(name, room, grants), room)
                .await
                .unwrap(),
        );
    }
    let publisher_sid = publisher.you.sid.clone();
    for sub in &subscribers {
        parley_e2e::two_tracks_flowing(sub, &publisher_sid, 60, Duration::from_secs(20))
            .await
            .unwrap();
    }
    publisher.stop_media();
    tokio::time::sleep(Duration::from_millis(700)).await;
    for sub in &subscribers {
        let receipts = receipts_of(sub, &publisher_sid);
        assert_eq!(receipts.len(), 2);
        for r in receipts {
            parley_e2e::assert_intact(&r, &publication);
        }
    }
    // The publisher receives nothing of its own.
    assert!(publisher.view().received.is_empty());
    let metrics = reqwest::get(format!("{}/metrics", server.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("parley_participants 3"), "{metrics}");
    assert!(metrics.contains("parley_published_tracks 2"), "{metrics}");
    for client in subscribers {
        client.close().await;
    }
    publisher.close().await;
    server.stop().await;
}
