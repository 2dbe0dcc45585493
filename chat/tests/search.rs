mod common;

use common::{backends, group, send, uid};

#[tokio::test]
async fn search_finds_words_in_my_conversations_only() {
    for store in &backends().await.stores {
        let word = format!("zebra{}", uid("w").replace('-', ""));
        let (conv, owner, members) = group(store, 1).await;
        let (other, stranger, _) = group(store, 0).await;
        let hit = send(
            store,
            &conv,
            &owner,
            &format!("the {word} crossed the road"),
        )
        .await;
        let gone = send(store, &conv, &owner, &format!("{word} deleted later")).await;
        send(store, &conv, &owner, "nothing to see").await;
        send(store, &other, &stranger, &format!("{word} elsewhere")).await;
        store.delete(&owner, &gone.id, false).await.unwrap();

        let found = store.search(&members[0], &word, None, 10).await.unwrap();
        assert_eq!(
            found.iter().map(|m| &m.id).collect::<Vec<_>>(),
            vec![&hit.id],
            "{}",
            store.backend()
        );
        let found = store
            .search(&owner, &format!("road {word}"), Some(&conv.id), 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        // Edits are searchable; the old text is not.
        let fresh = format!("giraffe{}", uid("w").replace('-', ""));
        store
            .edit(&owner, &hit.id, &format!("a {fresh} now"))
            .await
            .unwrap();
        assert_eq!(
            store.search(&owner, &fresh, None, 10).await.unwrap().len(),
            1
        );
        assert!(store
            .search(&owner, &word, None, 10)
            .await
            .unwrap()
            .is_empty());
        // Query syntax is never an error.
        for hostile in [
            "\"foo AND (",
            "*",
            "NEAR(",
            "a OR",
            "' ; DROP TABLE messages; --",
            "",
            "   ",
            "\0",
            "-",
            "\"\"\"",
            "col:x",
            "^x",
        ] {
            store.search(&owner, hostile, None, 10).await.unwrap();
        }
    }
}
