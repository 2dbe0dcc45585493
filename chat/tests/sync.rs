mod common;

use chat::{SyncCursor, SYNC_LIMIT};
use common::{backends, group, send};

#[tokio::test]
async fn sync_returns_exactly_the_missed_messages_and_changes() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let reader = &members[0];
        let early = send(store, &conv, &owner, "before").await;
        let first = store.sync(reader, &[]).await.unwrap();
        // Unlisted conversations with messages come from the start.
        assert_eq!(first.batches.len(), 1);
        let batch = &first.batches[0];
        assert_eq!(batch.messages.len(), 1);
        assert!(batch.changed.is_empty());
        let version = batch.version;

        // Away: 50 new messages, and the message it had is edited.
        for i in 0..50 {
            send(store, &conv, &owner, &format!("missed {i}")).await;
        }
        store
            .edit(&owner, &early.id, "before (edited)")
            .await
            .unwrap();
        let cursor = SyncCursor {
            conversation: conv.id.clone(),
            after_seq: 1,
            after_version: Some(version),
        };
        let result = store.sync(reader, &[cursor]).await.unwrap();
        assert!(result.gone.is_empty());
        assert_eq!(result.batches.len(), 1);
        let batch = &result.batches[0];
        let seqs: Vec<i64> = batch.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (2..=51).collect::<Vec<_>>());
        assert_eq!(batch.changed.len(), 1);
        assert_eq!(batch.changed[0].text.as_deref(), Some("before (edited)"));
        assert_eq!(batch.last_seq, 51);
        assert!(!batch.more);

        // Caught up: nothing more.
        let caught_up = SyncCursor {
            conversation: conv.id.clone(),
            after_seq: 51,
            after_version: Some(batch.version),
        };
        let result = store
            .sync(reader, std::slice::from_ref(&caught_up))
            .await
            .unwrap();
        assert!(result.batches[0].messages.is_empty());
        assert!(result.batches[0].changed.is_empty());

        // Kicked while away: the conversation is reported gone, not an error.
        store.kick(&owner, &conv.id, reader, false).await.unwrap();
        let result = store.sync(reader, &[caught_up]).await.unwrap();
        assert!(result.batches.is_empty());
        assert_eq!(result.gone, vec![conv.id.clone()]);
    }
}

/// The one cursor rule (docs/protocol.md, `SyncCursor`): `after_version` is the `version` of the
/// last sync batch (or a listing's `last_version`), never the highest version seen in live
/// events. A device that saw the later of two changes but not the earlier one before it
/// dropped gets both back.
#[tokio::test]
async fn a_cursor_from_the_last_batch_recovers_changes_whose_events_came_out_of_order() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let reader = &members[0];
        let a = send(store, &conv, &owner, "a").await;
        let b = send(store, &conv, &owner, "b").await;
        let batch = store.sync(reader, &[]).await.unwrap().batches.remove(0);
        assert_eq!(batch.messages.len(), 2);
        // Two changes; the device receives only the event of the second before it drops.
        let first_change = store.edit(&owner, &a.id, "a, edited").await.unwrap();
        let second_change = store.react(reader, &b.id, "👍", true).await.unwrap();
        assert!(second_change.version > first_change.version);
        let cursor = |after_version| SyncCursor {
            conversation: conv.id.clone(),
            after_seq: b.seq,
            after_version: Some(after_version),
        };
        let changed = |result: chat::SyncResult| -> Vec<String> {
            result.batches[0]
                .changed
                .iter()
                .map(|m| m.id.clone())
                .collect()
        };
        let by_rule = store.sync(reader, &[cursor(batch.version)]).await.unwrap();
        assert_eq!(changed(by_rule), vec![a.id.clone(), b.id.clone()]);
        // What the old second rule ("the highest version seen") would have lost.
        let by_highest_seen = store
            .sync(reader, &[cursor(second_change.version)])
            .await
            .unwrap();
        assert!(
            changed(by_highest_seen).is_empty(),
            "the edit of `a` is lost"
        );
    }
}

#[tokio::test]
async fn sync_pages_long_gaps_and_many_changes() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let writer = &members[0];
        let total = i64::from(SYNC_LIMIT) + 20;
        for i in 0..total {
            send(store, &conv, writer, &format!("n{i}")).await;
        }
        let cursor = SyncCursor {
            conversation: conv.id.clone(),
            after_seq: 0,
            after_version: Some(0),
        };
        let page = store
            .sync(&owner, &[cursor])
            .await
            .unwrap()
            .batches
            .remove(0);
        assert!(page.more);
        assert_eq!(page.messages.len(), SYNC_LIMIT as usize);
        let last = page.messages.last().unwrap().seq;
        let cursor = SyncCursor {
            conversation: conv.id.clone(),
            after_seq: last,
            after_version: Some(page.version),
        };
        let rest = store
            .sync(&owner, &[cursor])
            .await
            .unwrap()
            .batches
            .remove(0);
        assert!(!rest.more);
        let seqs: Vec<i64> = rest.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (last + 1..=total).collect::<Vec<_>>());
        assert!(rest.changed.is_empty());

        // More changes than one page (the writer is erased): paged by version, none lost.
        store.delete_user(writer).await.unwrap();
        let mut after_version = rest.version;
        let mut changed = Vec::new();
        for _ in 0..3 {
            let cursor = SyncCursor {
                conversation: conv.id.clone(),
                after_seq: total,
                after_version: Some(after_version),
            };
            let batch = store
                .sync(&owner, &[cursor])
                .await
                .unwrap()
                .batches
                .remove(0);
            changed.extend(batch.changed.iter().map(|m| m.seq));
            after_version = batch.version;
            if !batch.more {
                break;
            }
        }
        changed.sort_unstable();
        assert_eq!(
            changed,
            (1..=total).collect::<Vec<_>>(),
            "{}",
            store.backend()
        );
    }
}
