//! Room lifecycle through the real server: late joiners see existing tracks, everyone sees
//! everyone, a leaver disappears within a second (tracks removed, connection renegotiated),
//! and a shutdown says goodbye.

use loadtest::SyntheticClient;
use parley_e2e::{RawSocket, TestServer};
use signaling::auth::Grants;
use std::time::{Duration, Instant};

async fn join(server: &TestServer, name: &str, room: &str) -> SyntheticClient {
    SyntheticClient::join(
        &server.ws_url,
        &server.token(name, room, Grants::participant()),
        room,
    )
    .await
    .unwrap()
}

fn receives_all_from(view: &loadtest::RoomView, others: &[&str]) -> bool {
    others.iter().all(|sid| {
        view.participants.get(*sid).is_some_and(|p| {
            p.tracks.len() == 2
                && p.tracks
                    .iter()
                    .all(|t| view.received.get(&t.sid).is_some_and(|r| r.packets > 10))
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_see_each_other_and_a_leaver_disappears() {
    let server = TestServer::start().await;
    let room = "trio";
    let mut a = join(&server, "ana", room).await;
    a.publish().await.unwrap();
    let mut b = join(&server, "ben", room).await;
    b.publish().await.unwrap();
    let mut c = join(&server, "cy", room).await;
    c.publish().await.unwrap();
    let (sa, sb, sc) = (a.you.sid.clone(), b.you.sid.clone(), c.you.sid.clone());
    let wait = Duration::from_secs(20);
    a.wait_until("a receives b and c", wait, |v| {
        receives_all_from(v, &[&sb, &sc])
    })
    .await
    .unwrap();
    b.wait_until("b receives a and c", wait, |v| {
        receives_all_from(v, &[&sa, &sc])
    })
    .await
    .unwrap();
    c.wait_until("c receives a and b", wait, |v| {
        receives_all_from(v, &[&sa, &sb])
    })
    .await
    .unwrap();

    let offers_before = a.view().offers_answered;
    let left_at = Instant::now();
    c.leave().await.unwrap();
    for observer in [&a, &b] {
        let sc = sc.clone();
        observer
            .wait_until("c gone", Duration::from_secs(1), move |v| {
                !v.participants.contains_key(&sc)
            })
            .await
            .unwrap();
    }
    assert!(left_at.elapsed() < Duration::from_secs(1));
    // The subscriber connection is renegotiated without c's tracks, and c's packets stop.
    a.wait_until("renegotiated", Duration::from_secs(5), move |v| {
        v.offers_answered > offers_before
    })
    .await
    .unwrap();
    // That nothing of c is forwarded after it left, and the others' media keeps flowing, is
    // proven on virtual time in sfu/tests/absence.rs.

    c.close().await;
    a.close().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_goodbye_and_closes() {
    let server = TestServer::start().await;
    let mut ws = RawSocket::connect(&server.ws_url).await;
    ws.hello(&server.token("ana", "r", Grants::participant()))
        .await;
    let joined = ws.request(r#"{"type":"join","id":"j","room":"r"}"#).await;
    assert_eq!(joined["type"], "joined");
    let stopping = tokio::spawn(server.stop());
    let goodbye = ws.recv().await;
    assert_eq!(goodbye["type"], "goodbye", "{goodbye}");
    assert_eq!(goodbye["reason"], "server_shutdown");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("server stops promptly")
        .unwrap();
}

/// Mute is shown to the others (and to late joiners); unpublishing one track (a screen share
/// ending) removes it from everyone while its owner stays; nobody else can do either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_and_unpublish_reach_the_room_and_only_the_owner_may() {
    use signaling::protocol::{ClientMessage, ErrorCode, TrackKind};
    let server = TestServer::start().await;
    let room = "mutes";
    let mut a = join(&server, "ana", room).await;
    a.publish().await.unwrap();
    let b = join(&server, "ben", room).await;
    let sa = a.you.sid.clone();
    let wait = Duration::from_secs(20);
    let ready_sa = sa.clone();
    b.wait_until("b receives a's two tracks", wait, move |v| {
        receives_all_from(v, &[&ready_sa])
    })
    .await
    .unwrap();
    // The publisher learns its own track sids from `track_published`, like the others.
    let own = a.view().own_tracks;
    let theirs = b.view().participants[&sa].tracks.clone();
    let sids = |tracks: &[signaling::protocol::TrackInfo]| {
        let mut s: Vec<String> = tracks.iter().map(|t| t.sid.clone()).collect();
        s.sort();
        s
    };
    assert_eq!(sids(&own), sids(&theirs));
    let audio = own
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .unwrap()
        .sid
        .clone();
    let video = own
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .unwrap()
        .sid
        .clone();

    let mute =
        |track: String, muted: bool| move |id| ClientMessage::SetTrackMuted { id, track, muted };
    a.signaling()
        .request(mute(audio.clone(), true))
        .await
        .unwrap();
    let (muted_sa, muted_audio) = (sa.clone(), audio.clone());
    b.wait_until("b sees a's microphone muted", wait, move |v| {
        v.participants[&muted_sa]
            .tracks
            .iter()
            .any(|t| t.sid == muted_audio && t.muted)
    })
    .await
    .unwrap();
    // A late joiner learns it from `joined`.
    let c = join(&server, "cy", room).await;
    let seen = c.view().participants[&sa].tracks.clone();
    assert!(seen.iter().any(|t| t.sid == audio && t.muted), "{seen:?}");
    assert!(seen.iter().any(|t| t.sid == video && !t.muted), "{seen:?}");

    // Someone else's track: refused, and nothing changes.
    for request in [
        b.signaling().request(mute(video.clone(), true)).await,
        b.signaling()
            .request(|id| ClientMessage::Unpublish {
                id,
                track: video.clone(),
            })
            .await,
    ] {
        match request {
            Err(loadtest::signal::SignalError::Refused { code, .. }) => {
                assert_eq!(code, ErrorCode::UnknownTrack)
            }
            other => panic!("expected unknown_track, got {other:?}"),
        }
    }

    a.signaling()
        .request(|id| ClientMessage::Unpublish {
            id,
            track: video.clone(),
        })
        .await
        .unwrap();
    for observer in [&b, &c] {
        let (gone_sa, gone_video) = (sa.clone(), video.clone());
        observer
            .wait_until("a's video gone, a still there", wait, move |v| {
                v.participants.get(&gone_sa).is_some_and(|p| {
                    p.tracks.len() == 1 && p.tracks.iter().all(|t| t.sid != gone_video)
                })
            })
            .await
            .unwrap();
    }
    // Audio keeps flowing to b.
    let before = b.view().received[&audio].packets;
    let flowing = audio.clone();
    b.wait_until("a's audio still arrives", wait, move |v| {
        v.received[&flowing].packets > before + 20
    })
    .await
    .unwrap();
}

/// A moderator (the teacher) mutes a participant for everyone and removes another; a
/// participant without the grant cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_mutes_and_removes_and_others_cannot() {
    use signaling::protocol::{ClientMessage, ErrorCode, RoomModeration, TrackKind};
    let server = TestServer::start().await;
    let room = "classroom";
    let teacher_grants = Grants {
        moderate: true,
        ..Grants::participant()
    };
    let teacher = SyntheticClient::join(
        &server.ws_url,
        &server.token("teacher", room, teacher_grants),
        room,
    )
    .await
    .unwrap();
    let mut student = join(&server, "student", room).await;
    student.publish().await.unwrap();
    let peer = join(&server, "peer", room).await;
    let student_sid = student.you.sid.clone();
    let wait = Duration::from_secs(20);
    let ready = student_sid.clone();
    peer.wait_until("peer receives the student", wait, move |v| {
        receives_all_from(v, &[&ready])
    })
    .await
    .unwrap();
    let moderate = |action| {
        let participant = student_sid.clone();
        move |id| ClientMessage::ModerateParticipant {
            id,
            participant,
            action,
        }
    };
    match peer
        .signaling()
        .request(moderate(RoomModeration::MuteAll))
        .await
    {
        Err(loadtest::signal::SignalError::Refused { code, .. }) => {
            assert_eq!(code, ErrorCode::Forbidden)
        }
        other => panic!("expected forbidden, got {other:?}"),
    }
    teacher
        .signaling()
        .request(moderate(RoomModeration::MuteAudio))
        .await
        .unwrap();
    let audio = peer.view().participants[&student_sid]
        .tracks
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .unwrap()
        .sid
        .clone();
    let muted = (student_sid.clone(), audio.clone());
    peer.wait_until("peer told the student is muted", wait, move |v| {
        v.participants[&muted.0]
            .tracks
            .iter()
            .any(|t| t.sid == muted.1 && t.muted)
    })
    .await
    .unwrap();
    // Nothing of a force-muted track is forwarded: sfu/tests/absence.rs, on virtual time.
    teacher
        .signaling()
        .request(moderate(RoomModeration::Remove))
        .await
        .unwrap();
    let gone = student_sid.clone();
    peer.wait_until("student removed", wait, move |v| {
        !v.participants.contains_key(&gone)
    })
    .await
    .unwrap();
    match teacher
        .signaling()
        .request(moderate(RoomModeration::Remove))
        .await
    {
        Err(loadtest::signal::SignalError::Refused { code, .. }) => {
            assert_eq!(code, ErrorCode::UnknownParticipant)
        }
        other => panic!("expected unknown_participant, got {other:?}"),
    }
}
