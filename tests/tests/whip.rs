//! WHIP ingest and WHEP playback through the real server, with plain HTTP + SDP clients.

use loadtest::whip::{post_offer, HttpSession};
use loadtest::SyntheticClient;
use parley_e2e::{offer_sdp, publisher_grants, viewer_grants, TestServer};
use signaling::auth::Grants;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_publisher_is_a_participant_and_delete_removes_it() {
    let server = TestServer::start().await;
    let room = "lesson";
    let watcher = SyntheticClient::join(
        &server.ws_url,
        &server.token("student", room, viewer_grants()),
        room,
    )
    .await
    .unwrap();
    let token = server.token("obs-teacher", room, publisher_grants());
    let (session, publication, stop) = HttpSession::whip(&server.base_url, room, &token)
        .await
        .unwrap();
    assert!(session
        .resource
        .starts_with(&format!("{}/whip/{room}/", server.base_url)));
    let view = watcher
        .wait_until("WHIP media at the student", Duration::from_secs(20), |v| {
            v.participants.values().any(|p| {
                p.identity == "obs-teacher"
                    && p.tracks.len() == 2
                    && p.tracks
                        .iter()
                        .all(|t| v.received.get(&t.sid).is_some_and(|r| r.packets >= 30))
            })
        })
        .await
        .unwrap();
    let teacher = view
        .participants
        .values()
        .find(|p| p.identity == "obs-teacher")
        .unwrap();
    for track in &teacher.tracks {
        let r = &view.received[&track.sid];
        let tag = if track.kind == signaling::protocol::TrackKind::Audio {
            publication.audio_tag
        } else {
            publication.video_tag
        };
        assert_eq!(r.corrupted, 0, "{r:?}");
        assert_eq!(r.tags.iter().copied().collect::<Vec<_>>(), vec![tag]);
        assert_eq!(
            (r.index_gaps, r.index_reorders, r.seq_discontinuities),
            (0, 0, 0),
            "{r:?}"
        );
    }
    let teacher_sid = teacher.sid.clone();
    let _ = stop.send(true);
    assert_eq!(session.delete().await.unwrap(), 200);
    watcher
        .wait_until("teacher left", Duration::from_secs(2), move |v| {
            !v.participants.contains_key(&teacher_sid)
        })
        .await
        .unwrap();
    assert_eq!(
        session.delete().await.unwrap(),
        404,
        "a deleted session is gone"
    );
    session.close().await;
    watcher.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whep_viewer_follows_a_publisher_and_switches_seamlessly_when_it_leaves() {
    let server = TestServer::start().await;
    let room = "consult";
    let mut first = SyntheticClient::join(
        &server.ws_url,
        &server.token("doctor", room, Grants::participant()),
        room,
    )
    .await
    .unwrap();
    let first_media = first.publish().await.unwrap();
    let mut second = SyntheticClient::join(
        &server.ws_url,
        &server.token("nurse", room, Grants::participant()),
        room,
    )
    .await
    .unwrap();
    let second_media = second.publish().await.unwrap();
    let viewer = HttpSession::whep(
        &server.base_url,
        room,
        &server.token("operator", room, viewer_grants()),
        None,
    )
    .await
    .unwrap();
    let video_tag = first_media.video_tag;
    viewer
        .wait_until(
            "first publisher's media",
            Duration::from_secs(20),
            move |v| {
                v.received
                    .get("parley-video")
                    .is_some_and(|r| r.packets >= 60 && r.tags.contains(&video_tag))
                    && v.received
                        .get("parley-audio")
                        .is_some_and(|r| r.packets >= 30)
            },
        )
        .await
        .unwrap();
    // The hidden viewer is not a participant anyone sees.
    assert_eq!(second.view().participants.len(), 1);

    first.leave().await.unwrap();
    let next_tag = second_media.video_tag;
    let view = viewer
        .wait_until(
            "switched to the second publisher",
            Duration::from_secs(10),
            move |v| {
                v.received
                    .get("parley-video")
                    .is_some_and(|r| r.tags.contains(&next_tag) && r.packets >= 200)
            },
        )
        .await
        .unwrap();
    for (slot, tags) in [
        (
            "parley-video",
            [first_media.video_tag, second_media.video_tag],
        ),
        (
            "parley-audio",
            [first_media.audio_tag, second_media.audio_tag],
        ),
    ] {
        let r = &view.received[slot];
        assert_eq!(r.corrupted, 0, "{slot}: {r:?}");
        assert_eq!(
            r.tags
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            tags.into(),
            "{slot}"
        );
        assert_eq!(
            r.seq_discontinuities, 0,
            "{slot}: one contiguous RTP stream across the switch: {r:?}"
        );
    }
    assert!(second_media.video_sent.load(Ordering::Relaxed) > 0);

    // Following a named identity.
    let follower = HttpSession::whep(
        &server.base_url,
        room,
        &server.token("op2", room, viewer_grants()),
        Some("nurse"),
    )
    .await
    .unwrap();
    follower
        .wait_until("the nurse's video", Duration::from_secs(20), move |v| {
            v.received
                .get("parley-video")
                .is_some_and(|r| r.packets >= 30 && r.tags == [next_tag].into())
        })
        .await
        .unwrap();
    assert_eq!(follower.delete().await.unwrap(), 200);
    follower.close().await;
    viewer.close().await;
    first.close().await;
    second.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_errors_follow_the_rfc() {
    let server = TestServer::start().await;
    let base = &server.base_url;
    let room = "errors";
    let good = server.token("pub", room, publisher_grants());
    let offer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned();
    let url = format!("{base}/whip/{room}");

    let status = |r: &reqwest::Response| r.status().as_u16();
    let r = post_offer(&url, Some(&good), "text/plain", offer.clone())
        .await
        .unwrap();
    assert_eq!(status(&r), 415);
    let r = post_offer(&url, None, "application/sdp", offer.clone())
        .await
        .unwrap();
    assert_eq!(status(&r), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = post_offer(
        &url,
        Some("forged.token.here"),
        "application/sdp",
        offer.clone(),
    )
    .await
    .unwrap();
    assert_eq!(status(&r), 401);
    let r = post_offer(
        &url,
        Some(&server.token("v", room, viewer_grants())),
        "application/sdp",
        offer.clone(),
    )
    .await
    .unwrap();
    assert_eq!(status(&r), 403, "no publish grant");
    let r = post_offer(
        &url,
        Some(&server.token("p", "elsewhere", publisher_grants())),
        "application/sdp",
        offer.clone(),
    )
    .await
    .unwrap();
    assert_eq!(status(&r), 403, "token for another room");
    for bad in ["not sdp at all", "", "v=0\r\nm=video"] {
        let r = post_offer(&url, Some(&good), "application/sdp", bad.to_owned())
            .await
            .unwrap();
        assert_eq!(status(&r), 400, "{bad:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_sdp");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = post_offer(
        &format!("{base}/whep/{room}"),
        Some(&good),
        "application/sdp",
        offer.clone(),
    )
    .await
    .unwrap();
    assert_eq!(status(&r), 403, "WHEP needs the watch grant");

    let http = reqwest::Client::new();
    let r = http
        .delete(format!("{base}/whip/{room}/nope"))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 404);
    let r = http
        .patch(format!("{base}/whep/{room}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 404);
    let r = http
        .request(reqwest::Method::OPTIONS, &url)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.headers()["accept-post"], "application/sdp");

    // PATCH on a live session: 405 naming what is allowed.
    let (session, _publication, stop) = HttpSession::whip(base, room, &good).await.unwrap();
    let r = http
        .patch(&session.resource)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body("a=ice-ufrag:x\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 405);
    assert_eq!(r.headers()["allow"], "DELETE, OPTIONS");
    // Someone else's token cannot delete it.
    let r = http
        .delete(&session.resource)
        .bearer_auth(server.token("intruder", room, publisher_grants()))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&r), 403);
    let _ = stop.send(true);
    assert_eq!(session.delete().await.unwrap(), 200);
    session.close().await;
    server.stop().await;
}

/// An answer's m-line: kind, accepted, direction, codec names.
type Answered = (String, bool, String, Vec<String>);

fn answered(sdp: &str) -> Vec<Answered> {
    sfu::sdp::media_sections(sdp)
        .into_iter()
        .map(|s| {
            (
                s.kind,
                s.accepted,
                s.direction.as_str().to_owned(),
                s.codecs,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_that_carry_nothing_are_refused_with_a_reason() {
    let server = TestServer::start().await;
    let base = &server.base_url;
    let room = "codecs";
    let publisher = server.token("pub", room, publisher_grants());
    let viewer = server.token("viewer", room, viewer_grants());
    let pcmu: &[(u8, &str)] = &[(0, "PCMU/8000")];
    let av1: &[(u8, &str)] = &[(45, "AV1/90000")];
    let vp8: &[(u8, &str)] = &[(96, "VP8/90000")];
    // (endpoint, token, offer, what the refusal names)
    let refusals = [
        (
            "whip",
            &publisher,
            offer_sdp(&[
                ("audio", "sendonly", pcmu, &[]),
                ("video", "sendonly", av1, &[]),
            ]),
            "PCMU",
        ),
        (
            "whep",
            &viewer,
            offer_sdp(&[
                ("audio", "recvonly", pcmu, &[]),
                ("video", "recvonly", av1, &[]),
            ]),
            "codec",
        ),
        (
            "whep",
            &viewer,
            offer_sdp(&[("video", "sendonly", vp8, &[])]),
            "receiving",
        ),
    ];
    for (endpoint, token, offer, names) in refusals {
        let r = post_offer(
            &format!("{base}/{endpoint}/{room}"),
            Some(token),
            "application/sdp",
            offer,
        )
        .await
        .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(status, 422, "{endpoint} {names}: {body}");
        assert_eq!(body["error"]["code"], "unsupported_media");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{message}");
    }
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // Nothing was left behind: the refused sessions are not in the room.
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "parley_participants 0"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whep_answers_what_the_viewer_offers_in_the_right_directions() {
    let server = TestServer::start().await;
    let url = format!("{}/whep/viewing", server.base_url);
    let viewer = server.token("viewer", "viewing", viewer_grants());
    let opus_pcmu: &[(u8, &str)] = &[(109, "opus/48000/2"), (0, "PCMU/8000")];
    let h264: &[(u8, &str)] = &[(126, "H264/90000")];
    let h264_fmtp =
        "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1";
    // Firefox restricts some extensions to a direction; the answer must reverse it.
    let audio_level = "a=extmap:1/recvonly urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    let mid = "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid";
    let offer = offer_sdp(&[
        ("audio", "recvonly", opus_pcmu, &[audio_level, mid]),
        ("video", "recvonly", h264, &[h264_fmtp, mid]),
    ]);
    let r = post_offer(&url, Some(&viewer), "application/sdp", offer)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "an H264-only viewer is served");
    let answer = r.text().await.unwrap();
    let sections = answered(&answer);
    assert_eq!(sections.len(), 2, "{answer}");
    assert_eq!(
        (sections[0].1, sections[0].2.as_str()),
        (true, "sendonly"),
        "{answer}"
    );
    assert_eq!(
        sections[0].3.first().map(String::as_str),
        Some("opus"),
        "{answer}"
    );
    assert_eq!(
        (sections[1].1, sections[1].2.as_str()),
        (true, "sendonly"),
        "{answer}"
    );
    assert_eq!(sections[1].3, vec!["H264".to_owned()], "{answer}");
    for line in answer.lines().filter(|l| l.starts_with("a=extmap:1")) {
        assert!(line.starts_with("a=extmap:1/sendonly "), "{line}");
    }
    server.stop().await;
}
