mod common;

use chat::{HistoryQuery, StoreError, MAX_TEXT_BYTES};
use common::{backends, group, msg, send, uid};

#[tokio::test]
async fn concurrent_senders_get_gapless_sequence_numbers() {
    for store in &backends().await.stores {
        let (conv, _owner, members) = group(store, 20).await;
        let tasks: Vec<_> = members
            .iter()
            .map(|member| {
                let (store, conv, member) = (store.clone(), conv.clone(), member.clone());
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..10 {
                        let (m, created) = store
                            .send(common::msg(&conv, &member, &format!("hello {i}")))
                            .await
                            .unwrap();
                        assert!(created);
                        seqs.push(m.seq);
                    }
                    seqs
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for task in tasks {
            let mine = task.await.unwrap();
            // One sender's messages are ordered as sent.
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
            seqs.extend(mine);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<i64>>(), "{}", store.backend());
        assert_eq!(store.conversation(&conv.id).await.unwrap().last_seq, 200);
    }
}

#[tokio::test]
async fn resending_a_client_message_id_returns_the_original() {
    for store in &backends().await.stores {
        let (conv, owner, _) = group(store, 1).await;
        let first = msg(&conv, &owner, "once");
        let (original, created) = store.send(first.clone()).await.unwrap();
        assert!(created);
        let mut again = first.clone();
        again.text = "twice".into();
        let (resent, created) = store.send(again).await.unwrap();
        assert!(!created);
        assert_eq!(resent, original);
        // Concurrent resends of a new id: exactly one is created.
        let racing = msg(&conv, &owner, "race");
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (store, racing) = (store.clone(), racing.clone());
                tokio::spawn(async move { store.send(racing).await.unwrap() })
            })
            .collect();
        let mut created = 0;
        let mut ids = Vec::new();
        for task in tasks {
            let (m, c) = task.await.unwrap();
            created += usize::from(c);
            ids.push(m.id);
        }
        ids.dedup();
        assert_eq!((created, ids.len()), (1, 1), "{}", store.backend());
        let all = store
            .history(&owner, &conv.id, HistoryQuery::default())
            .await
            .unwrap();
        assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
    }
}

#[tokio::test]
async fn send_validates_input() {
    for store in &backends().await.stores {
        let (conv, owner, _) = group(store, 0).await;
        let big = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(matches!(
            store.send(msg(&conv, &owner, &big)).await,
            Err(StoreError::TooLarge { .. })
        ));
        store
            .send(msg(&conv, &owner, &"x".repeat(MAX_TEXT_BYTES)))
            .await
            .unwrap();
        assert!(matches!(
            store.send(msg(&conv, &owner, "  ")).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.send(msg(&conv, &owner, "nul\0byte")).await,
            Err(StoreError::Invalid(_))
        ));
        let mut unknown = msg(&conv, &owner, "hi");
        unknown.conversation = uid("missing");
        assert!(matches!(
            store.send(unknown).await,
            Err(StoreError::NotFound)
        ));
        let mut reply = msg(&conv, &owner, "re");
        reply.reply_to = Some(uid("missing"));
        assert!(matches!(
            store.send(reply).await,
            Err(StoreError::Invalid(_))
        ));
        let parent = send(store, &conv, &owner, "parent").await;
        let mut reply = msg(&conv, &owner, "child");
        reply.reply_to = Some(parent.id.clone());
        let (child, _) = store.send(reply).await.unwrap();
        assert_eq!(child.reply_to.as_deref(), Some(parent.id.as_str()));
        let mut stolen = msg(&conv, &owner, "with someone's file");
        stolen.attachments = vec![uid("att")];
        assert!(matches!(
            store.send(stolen).await,
            Err(StoreError::Invalid(_))
        ));
        // Rejected sends consumed no sequence numbers.
        assert_eq!(store.conversation(&conv.id).await.unwrap().last_seq, 3);
    }
}

#[tokio::test]
async fn history_pages_before_and_after() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        for i in 1..=25 {
            send(store, &conv, &owner, &format!("m{i}")).await;
        }
        let seqs = |ms: &[chat::Message]| ms.iter().map(|m| m.seq).collect::<Vec<_>>();
        let latest = store
            .history(
                &owner,
                &conv.id,
                HistoryQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(seqs(&latest), (16..=25).collect::<Vec<_>>());
        let older = store
            .history(
                &members[0],
                &conv.id,
                HistoryQuery {
                    before_seq: Some(16),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(seqs(&older), (6..=15).collect::<Vec<_>>());
        let forward = store
            .history(
                &owner,
                &conv.id,
                HistoryQuery {
                    after_seq: Some(20),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(seqs(&forward), (21..=25).collect::<Vec<_>>());
        let window = store
            .history(
                &owner,
                &conv.id,
                HistoryQuery {
                    after_seq: Some(3),
                    before_seq: Some(7),
                    limit: 0,
                },
            )
            .await
            .unwrap();
        assert_eq!(seqs(&window), vec![4, 5, 6]);
        assert_eq!(older[0].text.as_deref(), Some("m6"));
        assert!(matches!(
            store
                .history(
                    &owner,
                    &conv.id,
                    HistoryQuery {
                        before_seq: Some(-1),
                        ..Default::default()
                    }
                )
                .await,
            Err(StoreError::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn edit_delete_and_react() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 2).await;
        let (alice, bob) = (&members[0], &members[1]);
        let m = send(store, &conv, alice, "helo").await;
        let edited = store.edit(alice, &m.id, "hello").await.unwrap();
        assert_eq!(edited.text.as_deref(), Some("hello"));
        assert!(edited.edited_at_ms.is_some());
        assert!(edited.version > m.version);
        assert!(matches!(
            store.edit(bob, &m.id, "mine now").await,
            Err(StoreError::Forbidden)
        ));
        assert!(matches!(
            store.edit(alice, &uid("x"), "?").await,
            Err(StoreError::NotFound)
        ));

        let reacted = store.react(bob, &m.id, "👍", true).await.unwrap();
        store.react(bob, &m.id, "👍", true).await.unwrap();
        let reacted2 = store.react(alice, &m.id, "👍", true).await.unwrap();
        assert!(reacted2.version > reacted.version);
        let mut who = vec![alice.clone(), bob.clone()];
        who.sort();
        assert_eq!(reacted2.reactions.get("👍"), Some(&who));
        let unreacted = store.react(bob, &m.id, "👍", false).await.unwrap();
        assert_eq!(unreacted.reactions.get("👍"), Some(&vec![alice.clone()]));
        assert!(matches!(
            store.react(bob, &m.id, &"👍".repeat(9), true).await,
            Err(StoreError::TooLarge { .. })
        ));
        assert!(matches!(
            store.react(bob, &m.id, "a b", true).await,
            Err(StoreError::Invalid(_))
        ));

        // Others cannot delete; the sender can; the tombstone keeps its place.
        assert!(matches!(
            store.delete(bob, &m.id, false).await,
            Err(StoreError::Forbidden)
        ));
        let deleted = store.delete(alice, &m.id, false).await.unwrap();
        assert_eq!(deleted.message.seq, m.seq);
        assert_eq!(deleted.message.text, None);
        assert!(deleted.message.reactions.is_empty());
        assert!(deleted.message.deleted_at_ms.is_some());
        assert!(matches!(
            store.edit(alice, &m.id, "back").await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.react(bob, &m.id, "👍", true).await,
            Err(StoreError::Conflict(_))
        ));
        let again = store.delete(alice, &m.id, false).await.unwrap();
        assert_eq!(again.message, deleted.message);
        let history = store
            .history(&owner, &conv.id, HistoryQuery::default())
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        assert!(history[0].is_deleted());

        // The owner deletes anyone's message; a moderator-granted outsider too.
        let n = send(store, &conv, bob, "spam").await;
        store.delete(&owner, &n.id, false).await.unwrap();
        let o = send(store, &conv, bob, "more spam").await;
        let outsider = uid("admin");
        assert!(matches!(
            store.delete(&outsider, &o.id, false).await,
            Err(StoreError::NotMember)
        ));
        store.delete(&outsider, &o.id, true).await.unwrap();
        let log = store.audit_log(&owner, &conv.id, false).await.unwrap();
        let deletes: Vec<_> = log
            .iter()
            .filter(|e| e.action == chat::AuditAction::DeleteMessage)
            .map(|e| {
                (
                    e.actor.clone(),
                    e.target_message.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(deletes, vec![(owner.clone(), n.id), (outsider, o.id)]);
    }
}

#[tokio::test]
async fn non_members_cannot_read_or_send() {
    for store in &backends().await.stores {
        let (conv, owner, _) = group(store, 1).await;
        let m = send(store, &conv, &owner, "secret").await;
        let eve = uid("eve");
        assert!(matches!(
            store.send(msg(&conv, &eve, "let me in")).await,
            Err(StoreError::NotMember)
        ));
        assert!(matches!(
            store.history(&eve, &conv.id, HistoryQuery::default()).await,
            Err(StoreError::NotMember)
        ));
        assert!(matches!(
            store.message(&eve, &m.id).await,
            Err(StoreError::NotMember)
        ));
        assert!(matches!(
            store.react(&eve, &m.id, "👀", true).await,
            Err(StoreError::NotMember)
        ));
        assert!(matches!(
            store.mark(&eve, &conv.id, Some(1), None).await,
            Err(StoreError::NotMember)
        ));
        assert!(matches!(
            store.search(&eve, "secret", Some(&conv.id), 10).await,
            Err(StoreError::NotMember)
        ));
        assert!(store
            .search(&eve, "secret", None, 10)
            .await
            .unwrap()
            .is_empty());
    }
}

/// Sends that share a commit (SQLite groups concurrent sends into one transaction) stay
/// independent: an outsider's refused send, interleaved with members' sends, takes no sequence
/// number and undoes nothing of theirs.
#[tokio::test]
async fn a_refused_send_among_concurrent_ones_costs_nobody_anything() {
    for store in &backends().await.stores {
        let (conv, _owner, members) = group(store, 5).await;
        let outsider = uid("outsider");
        let mut tasks = Vec::new();
        for round in 0..10 {
            for member in members.iter().chain([&outsider]) {
                let (store, conv, member) = (store.clone(), conv.clone(), member.clone());
                tasks.push(tokio::spawn(async move {
                    let sent = store
                        .send(msg(&conv, &member, &format!("round {round}")))
                        .await;
                    (member, sent)
                }));
            }
        }
        let mut seqs = Vec::new();
        for task in tasks {
            let (member, sent) = task.await.unwrap();
            if member == outsider {
                assert!(matches!(sent, Err(StoreError::NotMember)), "{sent:?}");
            } else {
                seqs.push(sent.unwrap().0.seq);
            }
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=50).collect::<Vec<i64>>(), "{}", store.backend());
    }
}
