//! Chat through the real server with several real WebSocket clients: delivery to every
//! device, receipts, typing, presence, catch-up after a disconnect, idempotent sends, edits
//! and deletions, membership and moderation.

use loadtest::chatter::Chatter;
use loadtest::signal::SignalError;
use parley_e2e::TestServer;
use signaling::auth::Grants;
use signaling::protocol::chat::{
    ModerationAction, NewConversationKind, PresenceStatus, SyncCursor,
};
use signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn group(owner: &Chatter, with: &[&str]) -> String {
    let reply = owner
        .request(|id| ClientMessage::ChatCreate {
            id,
            kind: NewConversationKind::Group,
            with: with.iter().map(|s| s.to_string()).collect(),
            title: Some("team".into()),
        })
        .await
        .unwrap();
    let ServerMessage::ChatConversation { conversation, .. } = reply else {
        panic!("{reply:?}")
    };
    conversation.id
}

fn refused(result: Result<ServerMessage, SignalError>) -> ErrorCode {
    match result {
        Err(SignalError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_every_device_with_receipts_typing_and_edits() {
    let server = TestServer::start().await;
    let ana = server.chat_device("ana").await;
    let ben_phone = server.chat_device("ben").await;
    let ben_laptop = server.chat_device("ben").await;
    let conversation = group(&ana, &["ben"]).await;

    // Typing shows on both of ben's devices, then lapses by itself.
    ana.request(|id| ClientMessage::ChatTyping {
        id,
        conversation: conversation.clone(),
        typing: true,
    })
    .await
    .unwrap();
    for ben in [&ben_phone, &ben_laptop] {
        ben.wait_for("ana typing", WAIT, |events| {
            events.iter().any(|e| {
                matches!(e, ServerMessage::ChatTyping { identity, typing: true, .. } if identity == "ana")
            })
        })
        .await
        .unwrap();
    }
    ben_phone
        .wait_for("ana's typing lapses", WAIT, |events| {
            events.iter().any(|e| {
                matches!(e, ServerMessage::ChatTyping { identity, typing: false, .. } if identity == "ana")
            })
        })
        .await
        .unwrap();

    let sent = ana.send(&conversation, "hello ben").await.unwrap();
    assert_eq!(sent.seq, 1);
    for ben in [&ben_phone, &ben_laptop] {
        let id = sent.id.clone();
        ben.wait_for("the message", WAIT, move |events| {
            events
                .iter()
                .any(|e| matches!(e, ServerMessage::ChatMessage { message } if message.id == id))
        })
        .await
        .unwrap();
    }
    // Ana's own device does not get her message echoed as an event: the ack is hers.
    assert!(ana.received_messages().is_empty());

    // Delivered, then read: ana sees both receipts.
    for (delivered, read) in [(Some(1), None), (None, Some(1))] {
        ben_phone
            .request(|id| ClientMessage::ChatMark {
                id,
                conversation: conversation.clone(),
                delivered,
                read,
            })
            .await
            .unwrap();
    }
    ana.wait_for("read receipt", WAIT, |events| {
        events.iter().any(|e| {
            matches!(e, ServerMessage::ChatReceipt { identity, read_up_to: 1, delivered_up_to: 1, .. } if identity == "ben")
        })
    })
    .await
    .unwrap();

    // A freshly loaded client learns the members and what they have read.
    let reply = ana
        .request(|id| ClientMessage::ChatConversations { id })
        .await
        .unwrap();
    let ServerMessage::ChatConversations { conversations, .. } = reply else {
        panic!("{reply:?}")
    };
    let listed = conversations.iter().find(|c| c.id == conversation).unwrap();
    let ben_entry = listed.members.iter().find(|m| m.identity == "ben").unwrap();
    assert_eq!(
        (ben_entry.read_up_to, ben_entry.name.as_deref()),
        (1, Some("ben"))
    );

    // Edits, reactions and deletes reach everyone.
    ana.request(|id| ClientMessage::ChatEdit {
        id,
        message: sent.id.clone(),
        text: "hello, ben".into(),
    })
    .await
    .unwrap();
    ben_laptop
        .request(|id| ClientMessage::ChatReact {
            id,
            message: sent.id.clone(),
            emoji: "👍".into(),
            on: true,
        })
        .await
        .unwrap();
    ana.wait_for("ben's reaction", WAIT, |events| {
        events.iter().any(|e| {
            matches!(e, ServerMessage::ChatMessageUpdated { message } if message.reactions.get("👍").is_some_and(|who| who == &["ben".to_owned()]))
        })
    })
    .await
    .unwrap();
    // Only the sender may edit.
    let code = refused(
        ben_phone
            .request(|id| ClientMessage::ChatEdit {
                id,
                message: sent.id.clone(),
                text: "hijack".into(),
            })
            .await,
    );
    assert_eq!(code, ErrorCode::Forbidden);
    ana.request(|id| ClientMessage::ChatDelete {
        id,
        message: sent.id.clone(),
    })
    .await
    .unwrap();
    for ben in [&ben_phone, &ben_laptop] {
        ben.wait_for("edit and tombstone", WAIT, |events| {
            let edited = events.iter().any(|e| {
                matches!(e, ServerMessage::ChatMessageUpdated { message } if message.text.as_deref() == Some("hello, ben"))
            });
            let deleted = events.iter().any(|e| {
                matches!(e, ServerMessage::ChatMessageUpdated { message } if message.deleted_at.is_some() && message.text.is_none())
            });
            edited && deleted
        })
        .await
        .unwrap();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_aggregated_over_devices() {
    let server = TestServer::start().await;
    let ana = server.chat_device("ana").await;
    let ben_1 = server.chat_device("ben").await;
    group(&ana, &["ben"]).await;
    let status_of = |events: &[ServerMessage]| {
        events.iter().rev().find_map(|e| match e {
            ServerMessage::Presence { presence } if presence.identity == "ben" => {
                Some((presence.status, presence.last_seen_at))
            }
            _ => None,
        })
    };
    let ben_2 = server.chat_device("ben").await;
    ben_1.close();
    // One of two devices left: still online, and nobody is told anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reply = ana
        .request(|id| ClientMessage::PresenceQuery {
            id,
            identities: vec!["ben".into()],
        })
        .await
        .unwrap();
    let ServerMessage::PresenceState { presence, .. } = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(presence[0].status, PresenceStatus::Online);
    assert_eq!(
        status_of(&ana.events().into_iter().map(|(_, e)| e).collect::<Vec<_>>()),
        None
    );

    ben_2
        .request(|id| ClientMessage::PresenceSet {
            id,
            status: PresenceStatus::Away,
        })
        .await
        .unwrap();
    ana.wait_for("ben away", WAIT, |events| {
        status_of(events).is_some_and(|(s, _)| s == PresenceStatus::Away)
    })
    .await
    .unwrap();
    ben_2.close();
    ana.wait_for("ben offline with last seen", WAIT, |events| {
        status_of(events).is_some_and(|(s, seen)| s == PresenceStatus::Offline && seen.is_some())
    })
    .await
    .unwrap();
    let reply = ana
        .request(|id| ClientMessage::PresenceQuery {
            id,
            identities: vec!["ben".into()],
        })
        .await
        .unwrap();
    let ServerMessage::PresenceState { presence, .. } = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(presence[0].status, PresenceStatus::Offline);
    assert!(presence[0].last_seen_at.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_exactly_what_it_missed_in_order() {
    let server = TestServer::start().await;
    let ana = server.chat_device("ana").await;
    let ben = server.chat_device("ben").await;
    let conversation = group(&ana, &["ben"]).await;
    ana.send(&conversation, "before").await.unwrap();
    ben.wait_for("first message", WAIT, |events| {
        events
            .iter()
            .any(|e| matches!(e, ServerMessage::ChatMessage { .. }))
    })
    .await
    .unwrap();
    let last_seen = ben.received_messages()[0].seq;
    ben.close();

    let mut sent = Vec::new();
    for n in 0..50 {
        sent.push(
            ana.send(&conversation, &format!("missed {n}"))
                .await
                .unwrap(),
        );
    }
    // Resending one of them with the same client id changes nothing.
    let again = ana
        .send_with_id(
            &conversation,
            sent[10].client_msg_id.as_deref().unwrap(),
            "missed 10",
        )
        .await
        .unwrap();
    assert!(again.1, "a duplicate");
    assert_eq!(again.0.id, sent[10].id);

    let ben = server.chat_device("ben").await;
    let reply = ben
        .request(|id| ClientMessage::ChatSync {
            id,
            cursors: vec![SyncCursor {
                conversation: conversation.clone(),
                after_seq: last_seen,
                after_version: None,
            }],
        })
        .await
        .unwrap();
    let ServerMessage::ChatSync { batches, gone, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(gone.is_empty());
    let batch = batches
        .iter()
        .find(|b| b.conversation == conversation)
        .unwrap();
    let got: Vec<(String, i64)> = batch
        .messages
        .iter()
        .map(|m| (m.id.clone(), m.seq))
        .collect();
    let want: Vec<(String, i64)> = sent.iter().map(|m| (m.id.clone(), m.seq)).collect();
    assert_eq!(got, want, "exactly the 50, in order, once each");
    assert_eq!(batch.messages.last().map(|m| m.seq), Some(last_seen + 50));
    assert!(!batch.more);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_muted_and_banned_members_are_refused() {
    let server = TestServer::start().await;
    let ana = server.chat_device("ana").await;
    let ben = server.chat_device("ben").await;
    let eve = server.chat_device("eve").await;
    let conversation = group(&ana, &["ben"]).await;
    ana.send(&conversation, "members only").await.unwrap();

    // A non-member can neither read, send nor type.
    let history = |conversation: String| {
        move |id| ClientMessage::ChatHistory {
            id,
            conversation,
            before: None,
            after: None,
            limit: None,
        }
    };
    assert_eq!(
        refused(eve.request(history(conversation.clone())).await),
        ErrorCode::NotMember
    );
    assert!(matches!(
        eve.send(&conversation, "let me in").await,
        Err(loadtest::chatter::ChatterError::Signal(
            SignalError::Refused {
                code: ErrorCode::NotMember,
                ..
            }
        ))
    ));
    // An unknown conversation is not found.
    assert_eq!(
        refused(
            ana.request(|id| ClientMessage::ChatHistory {
                id,
                conversation: "no-such-conversation".into(),
                before: None,
                after: None,
                limit: None,
            })
            .await
        ),
        ErrorCode::NotFound
    );

    let moderate = |action, target: &str| {
        let (conversation, target) = (conversation.clone(), target.to_owned());
        move |id| ClientMessage::ChatModerate {
            id,
            conversation,
            action,
            target,
        }
    };
    // Members cannot moderate; the owner can.
    assert_eq!(
        refused(ben.request(moderate(ModerationAction::Mute, "ana")).await),
        ErrorCode::Forbidden
    );
    ana.request(moderate(ModerationAction::Mute, "ben"))
        .await
        .unwrap();
    assert!(matches!(
        ben.send(&conversation, "can I talk?").await,
        Err(loadtest::chatter::ChatterError::Signal(
            SignalError::Refused {
                code: ErrorCode::Muted,
                ..
            }
        ))
    ));
    ana.request(moderate(ModerationAction::Ban, "ben"))
        .await
        .unwrap();
    ben.wait_for("ben told he is banned", WAIT, |events| {
        events.iter().any(|e| {
            matches!(e, ServerMessage::ChatMember { identity, change: signaling::protocol::chat::MemberChange::Banned, .. } if identity == "ben")
        })
    })
    .await
    .unwrap();
    assert_eq!(
        refused(ben.request(history(conversation.clone())).await),
        ErrorCode::Banned
    );
    // Re-adding a banned member is refused (REST).
    let client = reqwest::Client::new();
    let response = client
        .post(format!(
            "{}/api/conversations/{conversation}/members",
            server.base_url
        ))
        .bearer_auth(server.token("ana", "lobby", Grants::participant()))
        .json(&serde_json::json!({ "identity": "ben" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "banned");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chat_input_gets_clear_errors_and_the_connection_survives() {
    let server = TestServer::start().await;
    let ana = server.chat_device("ana").await;
    let conversation = group(&ana, &["ben"]).await;
    let oversized = "x".repeat(chat::MAX_TEXT_BYTES + 1);
    assert!(matches!(
        ana.send(&conversation, &oversized).await,
        Err(loadtest::chatter::ChatterError::Signal(
            SignalError::Refused {
                code: ErrorCode::MessageTooLarge,
                ..
            }
        ))
    ));
    assert!(matches!(
        ana.send(&conversation, "").await,
        Err(loadtest::chatter::ChatterError::Signal(
            SignalError::Refused {
                code: ErrorCode::InvalidMessage,
                ..
            }
        ))
    ));
    assert_eq!(
        refused(
            ana.request(|id| ClientMessage::ChatReact {
                id,
                message: "no-such-message".into(),
                emoji: "👍".into(),
                on: true,
            })
            .await
        ),
        ErrorCode::NotFound
    );
    // Still serving.
    let ok = ana.send(&conversation, "still here").await.unwrap();
    assert_eq!(ok.seq, 1);

    // A flood: ana's device is told to slow down; ben, on the same conversation, is not.
    let ben = server.chat_device("ben").await;
    let mut limited = 0;
    for n in 0..60 {
        let sent = ana
            .request(|id| ClientMessage::ChatSend {
                id,
                conversation: conversation.clone(),
                client_msg_id: format!("flood-{n}"),
                text: "spam".into(),
                attachments: Vec::new(),
                reply_to: None,
            })
            .await;
        match sent {
            Ok(_) => {}
            Err(SignalError::Refused {
                code: ErrorCode::RateLimited,
                ..
            }) => limited += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(limited >= 30, "only {limited} of 60 refused");
    ben.send(&conversation, "I am still served").await.unwrap();
    server.stop().await;
}
