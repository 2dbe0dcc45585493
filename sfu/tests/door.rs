//! The core's one door (`SfuCore::handle`) without a network: a room's participant cap is
//! checked in the same call as the join (so two joins cannot both take the last place),
//! viewers count toward it, and every input ends drained (the gauges `finish` sets are up to
//! date after each).

use sfu::core::{CoreConfig, SfuCore};
use sfu::input::{Join, JoinViewer, Leave, RoomPeople};
use sfu::{ParticipantSid, SfuError, SfuStats};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::meta;

/// A browser's WHEP offer: receive one audio and one video track.
const VIEWER_OFFER: &str = "v=0\r\n\
o=- 1 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=setup:actpass\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:0\r\n\
a=recvonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:1\r\n\
a=recvonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\n";

fn core() -> SfuCore {
    SfuCore::new(
        CoreConfig {
            candidates: vec!["127.0.0.1:7882".parse().unwrap()],
            tcp_candidates: Vec::new(),
            keyframe_request_interval: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(25),
            limits: sfu::config::Limits::default(),
        },
        Arc::new(SfuStats::default()),
    )
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// (room, identity, cap)
    Join(&'static str, &'static str, Option<u32>),
    /// A WHEP viewer: (room, identity, cap)
    View(&'static str, &'static str, Option<u32>),
    /// The first participant of this identity leaves.
    Leave(&'static str),
}

#[derive(Debug, PartialEq)]
enum Outcome {
    In,
    Full,
    Other(SfuError),
}

#[test]
fn the_participant_cap_is_checked_in_the_same_call_as_the_join() {
    use Outcome::{Full, In};
    use Step::{Join as J, Leave as L, View as V};
    // (step, outcome, people in "r" afterwards, viewers included)
    #[rustfmt::skip]
    let rows: &[(Step, Outcome, usize)] = &[
        (J("r", "ana", Some(1)),  In,   1),
        (J("r", "bob", Some(1)),  Full, 1), // the second of two joins for one place
        (J("r", "bob", Some(2)),  In,   2),
        (J("s", "cy",  Some(1)),  In,   2), // another room, its own cap
        (V("r", "vic", Some(2)),  Full, 2), // viewers are refused past the cap
        (V("r", "vic", Some(3)),  In,   3),
        (J("r", "dan", Some(3)),  Full, 3), // and count toward it
        (L("ana"),                In,   2),
        (J("r", "dan", Some(3)),  In,   3),
        (J("r", "eve", None),     In,   4), // no cap
    ];
    let mut core = core();
    let mut joined: Vec<(&str, ParticipantSid)> = Vec::new();
    let now = Instant::now();
    for (i, (step, expected, people)) in rows.iter().enumerate() {
        let result = match *step {
            J(room, who, max_participants) => {
                let meta = meta(who);
                let sid = meta.sid.clone();
                let join = Join {
                    room: room.into(),
                    meta,
                    max_participants,
                };
                core.handle(now, join).map(|_| joined.push((who, sid)))
            }
            V(room, who, max_participants) => {
                let meta = meta(who);
                let sid = meta.sid.clone();
                let view = JoinViewer {
                    room: room.into(),
                    meta,
                    offer: VIEWER_OFFER.into(),
                    follow: None,
                    max_participants,
                };
                core.handle(now, view).map(|_| joined.push((who, sid)))
            }
            L(who) => {
                let at = joined.iter().position(|(w, _)| *w == who).expect("joined");
                let (_, sid) = joined.remove(at);
                core.handle(now, Leave { sid })
            }
        };
        let outcome = match result {
            Ok(()) => In,
            Err(SfuError::RoomFull) => Full,
            Err(other) => Outcome::Other(other),
        };
        assert_eq!(outcome, *expected, "row {i}: {step:?}");
        let room = RoomPeople { room: "r".into() };
        assert_eq!(core.handle(now, room).unwrap().len(), *people, "row {i}");
        let everyone = SfuStats::get(&core.stats().participants);
        assert_eq!(
            everyone,
            joined.len() as u64,
            "row {i}: the gauges are up to date"
        );
        for (_, sid) in &joined {
            assert!(core.has_participant(sid), "row {i}");
        }
    }
}

/// Every join's refusal leaves nothing behind: the identity's sessions, the room, the events.
#[test]
fn a_refused_join_leaves_no_trace() {
    let mut core = core();
    let now = Instant::now();
    let ana = meta("ana");
    let first = Join {
        room: "r".into(),
        meta: ana,
        max_participants: Some(1),
    };
    core.handle(now, first).unwrap();
    while core.poll_event().is_some() {}
    let bob = meta("bob");
    let bob_sid = bob.sid.clone();
    let second = Join {
        room: "r".into(),
        meta: bob,
        max_participants: Some(1),
    };
    assert_eq!(core.handle(now, second).unwrap_err(), SfuError::RoomFull);
    assert!(!core.has_participant(&bob_sid));
    assert!(core.poll_event().is_none(), "nobody was told of bob");
    assert!(core.poll_transmit().is_none());
}
