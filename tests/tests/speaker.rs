//! Active speaker detection end to end: two synthetic publishers send audio with different
//! RFC 6464 levels; `active_speakers` names the louder first, and follows when they swap.

use loadtest::SyntheticClient;
use parley_e2e::TestServer;
use signaling::auth::Grants;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn louder_speaker_first_and_the_order_follows_the_levels() {
    let server = TestServer::start().await;
    let room = "panel";
    let join = |name: &'static str| {
        let token = server.token(name, room, Grants::participant());
        let url = server.ws_url.clone();
        async move { SyntheticClient::join(&url, &token, room).await.unwrap() }
    };
    let mut ana = join("ana").await;
    let ana_media = ana.publish().await.unwrap();
    let mut ben = join("ben").await;
    let ben_media = ben.publish().await.unwrap();
    let listener = join("listener").await;
    let (sa, sb) = (ana.you.sid.clone(), ben.you.sid.clone());

    ana_media.audio_level.store(15, Ordering::Relaxed);
    ben_media.audio_level.store(45, Ordering::Relaxed);
    let order = |a: &str, b: &str| {
        let (a, b) = (a.to_owned(), b.to_owned());
        move |v: &loadtest::RoomView| {
            v.active_speakers
                .iter()
                .map(|(sid, _)| sid.as_str())
                .collect::<Vec<_>>()
                == [a.as_str(), b.as_str()]
        }
    };
    let view = listener
        .wait_until(
            "ana louder than ben",
            Duration::from_secs(5),
            order(&sa, &sb),
        )
        .await
        .unwrap();
    let (ana_level, ben_level) = (view.active_speakers[0].1, view.active_speakers[1].1);
    assert!(ana_level > ben_level && ben_level > 0.0, "{view:?}");
    // The speakers themselves are told too.
    ana.wait_until("ana sees the same", Duration::from_secs(2), order(&sa, &sb))
        .await
        .unwrap();

    let swapped_at = Instant::now();
    let events_before = listener.view().active_speaker_events;
    ana_media.audio_level.store(45, Ordering::Relaxed);
    ben_media.audio_level.store(15, Ordering::Relaxed);
    listener
        .wait_until(
            "ben louder after the swap",
            Duration::from_secs(5),
            order(&sb, &sa),
        )
        .await
        .unwrap();
    let elapsed = swapped_at.elapsed();
    // Events only on change, and at most one per 400 ms tick.
    let events = listener.view().active_speaker_events - events_before;
    assert!(
        events as u128 <= elapsed.as_millis() / 400 + 1,
        "{events} events in {elapsed:?}"
    );

    ana_media.audio_level.store(127, Ordering::Relaxed);
    ben_media.audio_level.store(127, Ordering::Relaxed);
    listener
        .wait_until("silence", Duration::from_secs(5), |v| {
            v.active_speakers.is_empty() && v.active_speaker_events > 0
        })
        .await
        .unwrap();
    for client in [ana, ben, listener] {
        client.close().await;
    }
    server.stop().await;
}
