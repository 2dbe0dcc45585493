mod common;

use common::{backends, group, send};

#[tokio::test]
async fn receipts_only_move_forward_and_read_implies_delivered() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let reader = &members[0];
        for i in 0..5 {
            send(store, &conv, &owner, &format!("m{i}")).await;
        }
        let r = store.mark(reader, &conv.id, Some(3), None).await.unwrap();
        assert_eq!((r.delivered_up_to, r.read_up_to), (3, 0));
        let r = store
            .mark(reader, &conv.id, Some(1), Some(2))
            .await
            .unwrap();
        assert_eq!((r.delivered_up_to, r.read_up_to), (3, 2));
        let r = store.mark(reader, &conv.id, None, Some(4)).await.unwrap();
        assert_eq!((r.delivered_up_to, r.read_up_to), (4, 4));
        // Beyond the last message is clamped to it.
        let r = store
            .mark(reader, &conv.id, Some(99), Some(99))
            .await
            .unwrap();
        assert_eq!((r.delivered_up_to, r.read_up_to), (5, 5));
        assert!(store.mark(reader, &conv.id, Some(-1), None).await.is_err());
        let all = store.receipts(&conv.id).await.unwrap();
        assert_eq!(all.len(), 2);
        let mine = all.iter().find(|r| &r.identity == reader).unwrap();
        assert_eq!((mine.delivered_up_to, mine.read_up_to), (5, 5));
        let summary = store.conversations_of(reader).await.unwrap();
        assert_eq!(summary[0].read_up_to, 5);
        assert_eq!(summary[0].conversation.last_seq, 5);
        assert_eq!(summary[0].unread(), 0);
    }
}
