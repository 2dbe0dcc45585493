//! Calls from conversations through the real server, with several devices: ring → accept (the
//! other device hears "answered elsewhere", both join the call room, hang-up leaves "Call, N
//! min" in history); decline; cancel; timeout → missed; busy; a restart while ringing ends the
//! invitation as missed.

use loadtest::chatter::Chatter;
use loadtest::signal::SignalError;
use loadtest::SyntheticClient;
use parley_e2e::{direct, TestServer};
use signaling::auth::Grants;
use signaling::protocol::chat::{CallMedia, InvitationInfo};
use signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn invite(caller: &Chatter, conversation: &str) -> (InvitationInfo, String) {
    let reply = caller
        .request(|id| ClientMessage::CallInvite {
            id,
            conversation: conversation.into(),
            media: CallMedia::Video,
            invitees: Vec::new(),
        })
        .await
        .unwrap();
    let ServerMessage::CallInvitation {
        invitation, token, ..
    } = reply
    else {
        panic!("{reply:?}")
    };
    (invitation, token)
}

fn rang(events: &[ServerMessage], invitation: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ServerMessage::CallRinging { invitation: i } if i.id == invitation))
}

fn updated_to(events: &[ServerMessage], invitation: &str, state: &str) -> bool {
    events.iter().any(|e| {
        matches!(e, ServerMessage::CallUpdate { invitation: i } if i.id == invitation && i.state == state)
    })
}

/// The texts of the system messages of a conversation, oldest first.
async fn call_notices(who: &Chatter, conversation: &str) -> Vec<String> {
    let reply = who
        .request(|id| ClientMessage::ChatHistory {
            id,
            conversation: conversation.into(),
            before: None,
            after: None,
            limit: None,
        })
        .await
        .unwrap();
    let ServerMessage::ChatHistory { messages, .. } = reply else {
        panic!("{reply:?}")
    };
    messages
        .into_iter()
        .filter(|m| m.system.is_some())
        .filter_map(|m| m.text)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_accept_call_and_hang_up_is_recorded() {
    let server = TestServer::start().await;
    let ana = server.chat_device("ana").await;
    let ben_phone = server.chat_device("ben").await;
    let ben_laptop = server.chat_device("ben").await;
    let conversation = direct(&ana, "ben").await;
    let (invitation, ana_token) = invite(&ana, &conversation).await;
    assert_eq!(invitation.state, "ringing");
    // Display names travel with the invitation ("Ana is calling…"); test tokens use the identity.
    assert_eq!(invitation.names.get("ana").map(String::as_str), Some("ana"));
    for ben in [&ben_phone, &ben_laptop] {
        let id = invitation.id.clone();
        ben.wait_for("ringing", WAIT, move |e| rang(e, &id))
            .await
            .unwrap();
    }
    // A device that connects while it rings rings too.
    let ben_tablet = server.chat_device("ben").await;
    let id = invitation.id.clone();
    ben_tablet
        .wait_for("ringing on a late device", WAIT, move |e| rang(e, &id))
        .await
        .unwrap();
    let reply = ben_phone
        .request(|id| ClientMessage::CallAccept {
            id,
            invitation: invitation.id.clone(),
        })
        .await
        .unwrap();
    let ServerMessage::CallInvitation {
        room,
        token: ben_token,
        ..
    } = reply
    else {
        panic!("{reply:?}")
    };
    let id = invitation.id.clone();
    ben_laptop
        .wait_for("answered elsewhere", WAIT, move |events| {
            events.iter().any(|e| {
                matches!(e, ServerMessage::CallAnsweredElsewhere { invitation: i } if i.id == id)
            })
        })
        .await
        .unwrap();
    let id = invitation.id.clone();
    ana.wait_for("accepted", WAIT, move |e| updated_to(e, &id, "accepted"))
        .await
        .unwrap();

    // Both join the call room with the tokens the server gave them, and see each other.
    let mut ana_call = SyntheticClient::join(&server.ws_url, &ana_token, &room)
        .await
        .unwrap();
    ana_call.publish().await.unwrap();
    let mut ben_call = SyntheticClient::join(&server.ws_url, &ben_token, &room)
        .await
        .unwrap();
    ben_call.publish().await.unwrap();
    let ana_sid = ana_call.you.sid.clone();
    ben_call
        .wait_until("ben receives ana", Duration::from_secs(20), move |v| {
            v.participants.get(&ana_sid).is_some_and(|p| {
                p.tracks
                    .iter()
                    .any(|t| v.received.get(&t.sid).is_some_and(|r| r.packets > 10))
            })
        })
        .await
        .unwrap();
    ana_call.leave().await.unwrap();
    ben_call.leave().await.unwrap();
    let admin = server.admin_token();

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let notices = call_notices(&ana, &conversation).await;
        if notices.iter().any(|t| t.starts_with("Call,")) {
            assert_eq!(notices.first().map(String::as_str), Some("Call started"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{notices:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Apps read the same call through the server API.
    let history: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/api/calls?conversation={conversation}",
            server.base_url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let call = &history["calls"][0];
    assert_eq!(call["room"], room.as_str());
    assert!(call["duration_ms"].as_i64().is_some(), "{history}");
    let mut people: Vec<&str> = call["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    people.sort();
    assert_eq!(people, vec!["ana", "ben"]);
    // And the conversation's history, without being a member of it.
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/api/conversations/{conversation}/messages",
            server.base_url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts.first(), Some(&"Call started"), "{page}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_cancel_busy_and_refusals() {
    let server = TestServer::start().await;
    let ana = server.chat_device("ana").await;
    let ben = server.chat_device("ben").await;
    let eve = server.chat_device("eve").await;
    let conversation = direct(&ana, "ben").await;

    // Decline: the caller is told; the conversation says so.
    let (invitation, _) = invite(&ana, &conversation).await;
    let id = invitation.id.clone();
    ben.wait_for("ringing", WAIT, move |e| rang(e, &id))
        .await
        .unwrap();
    // Only invitees answer, only the caller cancels.
    let refused = eve
        .request(|id| ClientMessage::CallAccept {
            id,
            invitation: invitation.id.clone(),
        })
        .await;
    assert!(matches!(
        refused,
        Err(SignalError::Refused {
            code: ErrorCode::Forbidden,
            ..
        })
    ));
    let refused = ben
        .request(|id| ClientMessage::CallCancel {
            id,
            invitation: invitation.id.clone(),
        })
        .await;
    assert!(matches!(
        refused,
        Err(SignalError::Refused {
            code: ErrorCode::Forbidden,
            ..
        })
    ));
    ben.request(|id| ClientMessage::CallDecline {
        id,
        invitation: invitation.id.clone(),
    })
    .await
    .unwrap();
    let id = invitation.id.clone();
    ana.wait_for("declined", WAIT, move |e| updated_to(e, &id, "declined"))
        .await
        .unwrap();

    // Cancel: the invitee stops ringing.
    let (invitation, _) = invite(&ana, &conversation).await;
    ana.request(|id| ClientMessage::CallCancel {
        id,
        invitation: invitation.id.clone(),
    })
    .await
    .unwrap();
    let id = invitation.id.clone();
    ben.wait_for("cancelled", WAIT, move |e| updated_to(e, &id, "cancelled"))
        .await
        .unwrap();
    // Accepting a cancelled call is a conflict.
    let late = ben
        .request(|id| ClientMessage::CallAccept {
            id,
            invitation: invitation.id.clone(),
        })
        .await;
    assert!(matches!(
        late,
        Err(SignalError::Refused {
            code: ErrorCode::Conflict,
            ..
        })
    ));

    // Busy: ben is in another call.
    let in_call = SyntheticClient::join(
        &server.ws_url,
        &server.token("ben", "standup", Grants::participant()),
        "standup",
    )
    .await
    .unwrap();
    let (invitation, _) = invite(&ana, &conversation).await;
    let busy = invitation
        .invitees
        .iter()
        .find(|i| i.identity == "ben")
        .map(|i| i.state.clone());
    assert_eq!(busy.as_deref(), Some("busy"));
    in_call.leave().await.unwrap();

    let notices = call_notices(&ana, &conversation).await;
    assert_eq!(
        notices,
        vec!["Call declined", "Call cancelled", "Call declined"],
        "busy ends a direct call as declined"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_calls_are_missed_even_across_a_restart() {
    let data_dir = std::env::temp_dir().join(format!("parley-calls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let dir = data_dir.clone();
    let server = TestServer::start_with(move |args| {
        args.ring_timeout_secs = Some(1);
        args.data_dir = Some(dir);
    })
    .await;
    let ana = server.chat_device("ana").await;
    let ben = server.chat_device("ben").await;
    let conversation = direct(&ana, "ben").await;
    let (invitation, _) = invite(&ana, &conversation).await;
    let id = invitation.id.clone();
    ben.wait_for("missed", WAIT, move |e| updated_to(e, &id, "missed"))
        .await
        .unwrap();
    assert_eq!(call_notices(&ana, &conversation).await, vec!["Missed call"]);

    // Ringing when the server goes down: after the restart, it is missed, not ringing.
    let (invitation, _) = invite(&ana, &conversation).await;
    server.server.shutdown().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let dir = data_dir.clone();
    let server = TestServer::start_with(move |args| {
        args.ring_timeout_secs = Some(1);
        args.data_dir = Some(dir);
    })
    .await;
    let ana = server.chat_device("ana").await;
    let notices = call_notices(&ana, &conversation).await;
    assert_eq!(
        notices,
        vec!["Missed call", "Missed call"],
        "{invitation:?}"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
