mod common;

use chat::{HistoryQuery, SyncCursor};
use common::{backends, group, msg, send, uid};

#[tokio::test]
async fn users_have_avatars_and_are_looked_up_together() {
    for store in &backends().await.stores {
        let (ana, ben) = (uid("ana"), uid("ben"));
        store.upsert_user(&ana, "Ana").await.unwrap();
        store.upsert_user(&ben, "Ben").await.unwrap();
        store
            .set_avatar_url(&ana, Some("https://example.test/a.png"))
            .await
            .unwrap();
        store.upsert_user(&ana, "Ana B.").await.unwrap();
        let found = store
            .users(&[ben.clone(), ana.clone(), uid("unknown")])
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
        let a = found.iter().find(|u| u.identity == ana).unwrap();
        assert_eq!(a.display_name, "Ana B.");
        assert_eq!(a.avatar_url.as_deref(), Some("https://example.test/a.png"));
        store.set_avatar_url(&ana, None).await.unwrap();
        assert_eq!(store.user(&ana).await.unwrap().unwrap().avatar_url, None);
        assert!(store.set_avatar_url(&uid("nobody"), None).await.is_err());
    }
}

#[tokio::test]
async fn delete_user_erases_content_but_keeps_sequence() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let leaver = &members[0];
        store.upsert_user(leaver, "Leaver").await.unwrap();
        let first = send(store, &conv, &owner, "hello").await;
        let att = store
            .create_attachment(leaver, &conv.id, "me.jpg", "image/jpeg", 3, "key-me")
            .await
            .unwrap();
        let mut with_file = msg(&conv, leaver, "my photo");
        with_file.attachments = vec![att.id];
        store.send(with_file).await.unwrap();
        send(store, &conv, leaver, "personal details").await;
        store.react(leaver, &first.id, "❤️", true).await.unwrap();
        store
            .mark(leaver, &conv.id, Some(3), Some(3))
            .await
            .unwrap();
        send(store, &conv, &owner, "bye").await;
        let before = store.conversation(&conv.id).await.unwrap().last_version;

        let erased = store.delete_user(leaver).await.unwrap();
        assert!(erased.user_existed);
        assert_eq!(erased.messages, 2);
        assert_eq!(erased.storage_keys, vec!["key-me".to_string()]);
        assert!(store.user(leaver).await.unwrap().is_none());
        assert!(store.membership(&conv.id, leaver).await.unwrap().is_none());
        assert!(store
            .receipts(&conv.id)
            .await
            .unwrap()
            .iter()
            .all(|r| &r.identity != leaver));
        assert!(store.conversations_of(leaver).await.unwrap().is_empty());

        let history = store
            .history(&owner, &conv.id, HistoryQuery::default())
            .await
            .unwrap();
        assert_eq!(
            history.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert!(history[0].reactions.is_empty());
        for tombstone in &history[1..3] {
            assert_eq!(
                (tombstone.sender.as_deref(), tombstone.text.as_deref()),
                (None, None)
            );
            assert!(tombstone.attachments.is_empty());
            assert!(tombstone.is_deleted());
        }
        assert!(store
            .search(&owner, "personal", None, 10)
            .await
            .unwrap()
            .is_empty());
        // A syncing client learns of the erasure through the changed list.
        let cursor = SyncCursor {
            conversation: conv.id.clone(),
            after_seq: 4,
            after_version: Some(before),
        };
        let batch = store
            .sync(&owner, &[cursor])
            .await
            .unwrap()
            .batches
            .remove(0);
        let changed: Vec<i64> = batch.changed.iter().map(|m| m.seq).collect();
        assert_eq!(changed, vec![1, 2, 3]);
    }
}
