//! Several Parley nodes as one service: nodes (each a whole server with its own HTTP and
//! media ports, in this test process) on one PostgreSQL database per test and one NATS
//! server (`parley_e2e::cluster`). Chat crosses nodes both ways, and a membership change on
//! one node reaches the others' cached audiences; calls ring on every node, "answered
//! elsewhere" crosses nodes, a ring timeout fires once even when the caller's node is gone,
//! and busy is known across nodes; presence is one view; deployments sharing a NATS server
//! never hear each other; NATS going away and back loses nothing once synced. The test
//! command (`scripts/test.sh`) makes sure NATS and PostgreSQL run; without them this fails.

use loadtest::chatter::Chatter;
use parley_e2e::cluster::{node, node_with, Database, OwnNats};
use parley_e2e::direct;
use signaling::auth::Grants;
use signaling::protocol::chat::{CallMedia, InvitationInfo, ModerationAction, NewConversationKind};
use signaling::protocol::{ClientMessage, ServerMessage};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

fn got_message(events: &[ServerMessage], id: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ServerMessage::ChatMessage { message } if message.id == id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_crosses_nodes_both_ways_and_membership_changes_reach_every_node() {
    let db = Database::fresh();
    let nodes = [
        node("n1", &db).await,
        node("n2", &db).await,
        node("n3", &db).await,
    ];
    let (ana_id, ben_id, cy_id) = (unique("ana"), unique("ben"), unique("cy"));
    let ana = nodes[0].chat_device(&ana_id).await;
    let ben = nodes[1].chat_device(&ben_id).await;
    let cy = nodes[2].chat_device(&cy_id).await;
    let reply = ana
        .request(|id| ClientMessage::ChatCreate {
            id,
            kind: NewConversationKind::Group,
            with: vec![ben_id.clone(), cy_id.clone()],
            title: Some("ward".into()),
        })
        .await
        .unwrap();
    let ServerMessage::ChatConversation { conversation, .. } = reply else {
        panic!("{reply:?}")
    };
    let conversation = conversation.id;

    // Typing on node 1 shows on node 2.
    ana.request(|id| ClientMessage::ChatTyping {
        id,
        conversation: conversation.clone(),
        typing: true,
    })
    .await
    .unwrap();
    let typist = ana_id.clone();
    ben.wait_for("ana typing, from node 1", WAIT, move |events| {
        events.iter().any(|e| {
            matches!(e, ServerMessage::ChatTyping { identity, typing: true, .. } if *identity == typist)
        })
    })
    .await
    .unwrap();

    // A message from node 1 reaches nodes 2 and 3; one from node 2 reaches 1 and 3.
    let first = ana.send(&conversation, "from node 1").await.unwrap();
    for (who, device) in [("ben", &ben), ("cy", &cy)] {
        let id = first.id.clone();
        device
            .wait_for(who, WAIT, move |e| got_message(e, &id))
            .await
            .unwrap();
    }
    let reply = ben.send(&conversation, "from node 2").await.unwrap();
    for (who, device) in [("ana", &ana), ("cy", &cy)] {
        let id = reply.id.clone();
        device
            .wait_for(who, WAIT, move |e| got_message(e, &id))
            .await
            .unwrap();
    }

    // A receipt on node 2 reaches node 1.
    ben.request(|id| ClientMessage::ChatMark {
        id,
        conversation: conversation.clone(),
        delivered: None,
        read: Some(1),
    })
    .await
    .unwrap();
    let reader = ben_id.clone();
    ana.wait_for("ben's read receipt, from node 2", WAIT, move |events| {
        events.iter().any(|e| {
            matches!(e, ServerMessage::ChatReceipt { identity, read_up_to: 1, .. } if *identity == reader)
        })
    })
    .await
    .unwrap();

    // Node 2 has the conversation's audience cached (ben sent in it). Ana removes cy on node
    // 1: node 2 must forget it, or ben's next message would still reach cy on node 3.
    ana.request(|id| ClientMessage::ChatModerate {
        id,
        conversation: conversation.clone(),
        action: ModerationAction::Kick,
        target: cy_id.clone(),
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // the invalidation crosses NATS
    let after = ben.send(&conversation, "cy is gone").await.unwrap();
    let id = after.id.clone();
    ana.wait_for("ben's message after the kick", WAIT, move |e| {
        got_message(e, &id)
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !cy.received_messages().iter().any(|m| m.id == after.id),
        "a removed member on another node got a message"
    );
    for node in nodes {
        node.stop().await;
    }
}

/// `state` of invitation `id` in the call events a device got, in order.
fn call_states(events: &[(std::time::Instant, ServerMessage)], id: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            ServerMessage::CallRinging { invitation } => Some(("ringing", invitation)),
            ServerMessage::CallUpdate { invitation } => Some(("update", invitation)),
            ServerMessage::CallAnsweredElsewhere { invitation } => Some(("elsewhere", invitation)),
            _ => None,
        })
        .filter(|(_, i)| i.id == id)
        .map(|(kind, i): (&str, &InvitationInfo)| format!("{kind}:{}", i.state))
        .collect()
}

async fn invite(caller: &Chatter, conversation: &str) -> InvitationInfo {
    let reply = caller
        .request(|id| ClientMessage::CallInvite {
            id,
            conversation: conversation.to_owned(),
            media: CallMedia::Audio,
            invitees: Vec::new(),
        })
        .await
        .unwrap();
    let ServerMessage::CallInvitation { invitation, .. } = reply else {
        panic!("{reply:?}")
    };
    invitation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_rings_on_every_node_and_its_timeout_fires_once_without_its_node() {
    let db = Database::fresh();
    let ring = |args: &mut signaling::config::ServeArgs| args.ring_timeout_secs = Some(2);
    let mut nodes = vec![
        node_with("c1", &db, ring).await,
        node_with("c2", &db, ring).await,
        node_with("c3", &db, ring).await,
    ];
    let (ana_id, ben_id) = (unique("ana"), unique("ben"));
    let ana = nodes[0].chat_device(&ana_id).await;
    let ben_phone = nodes[1].chat_device(&ben_id).await;
    let ben_laptop = nodes[2].chat_device(&ben_id).await;
    let conversation = direct(&ana, &ben_id).await;

    // Rings on nodes 2 and 3; accepted on 3; node 2's device hears it was answered there.
    let call = invite(&ana, &conversation).await;
    for (what, device) in [("phone rings", &ben_phone), ("laptop rings", &ben_laptop)] {
        let id = call.id.clone();
        device
            .wait_for(what, WAIT, move |events| {
                events.iter().any(|e| matches!(e, ServerMessage::CallRinging { invitation } if invitation.id == id))
            })
            .await
            .unwrap();
    }
    let accepted = ben_laptop
        .request(|id| ClientMessage::CallAccept {
            id,
            invitation: call.id.clone(),
        })
        .await
        .unwrap();
    assert!(
        matches!(accepted, ServerMessage::CallInvitation { .. }),
        "{accepted:?}"
    );
    let id = call.id.clone();
    ben_phone
        .wait_for("answered elsewhere", WAIT, move |events| {
            events.iter().any(|e| matches!(e, ServerMessage::CallAnsweredElsewhere { invitation } if invitation.id == id))
        })
        .await
        .unwrap();
    let id = call.id.clone();
    ana.wait_for("the caller sees it accepted", WAIT, move |events| {
        events.iter().any(|e| matches!(e, ServerMessage::CallUpdate { invitation } if invitation.id == id && invitation.state == "accepted"))
    })
    .await
    .unwrap();

    // A second call rings; its caller's node goes away; another node ends it as missed, once.
    let missed = invite(&ana, &conversation).await;
    let id = missed.id.clone();
    ben_phone
        .wait_for("the second call rings", WAIT, move |events| {
            events.iter().any(
                |e| matches!(e, ServerMessage::CallRinging { invitation } if invitation.id == id),
            )
        })
        .await
        .unwrap();
    nodes.remove(0).stop().await;
    let id = missed.id.clone();
    ben_phone
        .wait_for("missed, after the caller's node is gone", WAIT, move |events| {
            events.iter().any(|e| matches!(e, ServerMessage::CallUpdate { invitation } if invitation.id == id && invitation.state == "missed"))
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for device in [&ben_phone, &ben_laptop] {
        let states = call_states(&device.events(), &missed.id);
        assert_eq!(
            states.iter().filter(|s| *s == "update:missed").count(),
            1,
            "ended once: {states:?}"
        );
    }
    for node in nodes {
        node.stop().await;
    }
}

/// Ben's presence events as ana received them.
fn presence_of(events: &[(std::time::Instant, ServerMessage)], who: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            ServerMessage::Presence { presence } if presence.identity == who => {
                Some(format!("{:?}", presence.status).to_lowercase())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_one_view_over_every_node() {
    let db = Database::fresh();
    let nodes = [
        node("p1", &db).await,
        node("p2", &db).await,
        node("p3", &db).await,
    ];
    let (ana_id, ben_id) = (unique("ana"), unique("ben"));
    let ana = nodes[0].chat_device(&ana_id).await;
    direct(&ana, &ben_id).await;
    let query = || async {
        let reply = ana
            .request(|id| ClientMessage::PresenceQuery {
                id,
                identities: vec![ben_id.clone()],
            })
            .await
            .unwrap();
        let ServerMessage::PresenceState { presence, .. } = reply else {
            panic!("{reply:?}")
        };
        format!("{:?}", presence[0].status).to_lowercase()
    };
    let settle = || tokio::time::sleep(Duration::from_millis(400));

    // Ben comes online on node 2: ana, on node 1, hears it.
    let phone = nodes[1].chat_device(&ben_id).await;
    let who = ben_id.clone();
    ana.wait_for("ben online", WAIT, move |events| {
        events
            .iter()
            .any(|e| matches!(e, ServerMessage::Presence { presence } if presence.identity == who))
    })
    .await
    .unwrap();
    settle().await;
    // A second device on node 3, then the first one gone: still online, nobody is told.
    let laptop = nodes[2].chat_device(&ben_id).await;
    settle().await;
    phone.close();
    settle().await;
    assert_eq!(query().await, "online", "node 3's device counts on node 1");
    // The last device goes: offline, once.
    laptop.close();
    let who = ben_id.clone();
    ana.wait_for("ben offline", WAIT, move |events| {
        events.iter().any(|e| matches!(e, ServerMessage::Presence { presence } if presence.identity == who && format!("{:?}", presence.status) == "Offline"))
    })
    .await
    .unwrap();
    settle().await;
    assert_eq!(presence_of(&ana.events(), &ben_id), ["online", "offline"]);
    assert_eq!(query().await, "offline");
    let alive = parley_e2e::metric(&nodes[0].base_url, "parley_cluster_nodes").await;
    assert!(alive >= 3.0, "node 1 hears the others' heartbeats: {alive}");
    // A room opens on node 2: node 1's gauge of rooms per node says so after a heartbeat.
    let mut socket = parley_e2e::RawSocket::connect(&nodes[1].ws_url).await;
    let token = nodes[1].token(&unique("host"), "clinic", Grants::participant());
    socket.hello(&token).await;
    let joined = socket
        .request(r#"{"type": "join", "id": "j", "room": "clinic"}"#)
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let rooms_on_p2 = r#"parley_cluster_node_rooms{node="p2"}"#;
    let mut seen = 0.0;
    for _ in 0..30 {
        seen = parley_e2e::metric(&nodes[0].base_url, rooms_on_p2).await;
        if seen >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen >= 1.0, "node 1 sees node 2's room: {seen}");
    socket.close().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_going_away_and_back_loses_no_message_once_synced() {
    let db = Database::fresh();
    let nats = OwnNats::start_anywhere().await;
    let (port, url) = (nats.port, nats.url());
    let nodes = [
        node_with("o1", &db, |a| a.nats_url = Some(vec![url.clone()])).await,
        node_with("o2", &db, |a| a.nats_url = Some(vec![url.clone()])).await,
    ];
    let (ana_id, ben_id) = (unique("ana"), unique("ben"));
    let ana = nodes[0].chat_device(&ana_id).await;
    let ben = nodes[1].chat_device(&ben_id).await;
    let conversation = direct(&ana, &ben_id).await;
    let first = ana.send(&conversation, "before").await.unwrap();
    let id = first.id.clone();
    ben.wait_for("the first message", WAIT, move |e| got_message(e, &id))
        .await
        .unwrap();

    // NATS goes away: each node keeps serving its own devices.
    drop(nats);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = ana.send(&conversation, "while NATS is down").await.unwrap();

    // NATS comes back on the same address: the nodes reconnect by themselves.
    let _nats = OwnNats::start(port).await;
    let mut crossed = false;
    for attempt in 0..30 {
        let probe = ana
            .send(&conversation, &format!("probe {attempt}"))
            .await
            .unwrap();
        let id = probe.id.clone();
        if ben
            .wait_for("a probe", Duration::from_secs(1), move |e| {
                got_message(e, &id)
            })
            .await
            .is_ok()
        {
            crossed = true;
            break;
        }
    }
    assert!(crossed, "chat crosses nodes again after NATS returned");
    // What was sent meanwhile is there for ben's catch-up, whether or not it was delivered.
    let reply = ben
        .request(|id| ClientMessage::ChatSync {
            id,
            cursors: vec![signaling::protocol::chat::SyncCursor {
                conversation: conversation.clone(),
                after_seq: first.seq,
                after_version: None,
            }],
        })
        .await
        .unwrap();
    let ServerMessage::ChatSync { batches, .. } = reply else {
        panic!("{reply:?}")
    };
    let synced: Vec<&str> = batches
        .iter()
        .flat_map(|b| b.messages.iter().map(|m| m.id.as_str()))
        .collect();
    assert!(synced.contains(&during.id.as_str()), "{synced:?}");
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitee_in_a_call_on_another_node_is_busy() {
    let db = Database::fresh();
    let nodes = [node("b1", &db).await, node("b2", &db).await];
    let (ana_id, ben_id) = (unique("ana"), unique("ben"));
    let ana = nodes[0].chat_device(&ana_id).await;
    let _ben = nodes[1].chat_device(&ben_id).await;
    let conversation = direct(&ana, &ben_id).await;
    let state_of_ben = |invitation: &InvitationInfo| {
        invitation
            .invitees
            .iter()
            .find(|i| i.identity == ben_id)
            .map(|i| i.state.clone())
    };
    // Ben is in a room on node 2.
    let mut in_room = parley_e2e::RawSocket::connect(&nodes[1].ws_url).await;
    in_room
        .hello(&nodes[1].token(&ben_id, "elsewhere", Grants::participant()))
        .await;
    let joined = in_room
        .request(r#"{"type": "join", "id": "j", "room": "elsewhere"}"#)
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let call = invite(&ana, &conversation).await;
    assert_eq!(state_of_ben(&call).as_deref(), Some("busy"), "{call:?}");
    // He leaves it: the next call rings.
    in_room.close().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let call = invite(&ana, &conversation).await;
    assert_eq!(state_of_ben(&call).as_deref(), Some("ringing"), "{call:?}");
    for node in nodes {
        node.stop().await;
    }
}

/// Two deployments on one NATS server (different `--cluster-name`, different stores): a
/// message in one never reaches a device of the same identity in the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_sharing_a_nats_server_never_hear_each_other() {
    let (db_a, db_b) = (Database::fresh(), Database::fresh());
    let (a, b) = (node("x1", &db_a).await, node("y1", &db_b).await);
    let (ana_id, ben_id) = (unique("ana"), unique("ben"));
    let ana = a.chat_device(&ana_id).await;
    let ben_here = a.chat_device(&ben_id).await;
    let ben_elsewhere = b.chat_device(&ben_id).await;
    let conversation = direct(&ana, &ben_id).await;
    let sent = ana.send(&conversation, "private").await.unwrap();
    let id = sent.id.clone();
    ben_here
        .wait_for("ben in the same deployment", WAIT, move |e| {
            got_message(e, &id)
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        ben_elsewhere.received_messages().is_empty(),
        "another deployment's device got a message"
    );
    a.stop().await;
    b.stop().await;
}
