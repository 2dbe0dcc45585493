mod common;

use chat::{AttachmentStore, StoreError, DEFAULT_MAX_ATTACHMENT_BYTES};
use common::{backends, group, msg, uid};

#[tokio::test]
async fn attachment_files_enforce_type_size_and_keys() {
    let dir = std::env::temp_dir().join(uid("parley-files"));
    let files = AttachmentStore::new(&dir).unwrap().with_max_bytes(1024);
    let key = files
        .put("text/plain; charset=utf-8", b"hello")
        .await
        .unwrap();
    assert_eq!(files.get(&key).await.unwrap(), b"hello");
    assert!(matches!(
        files.put("application/x-msdownload", b"MZ").await,
        Err(StoreError::ContentTypeNotAllowed(_))
    ));
    assert!(matches!(
        files.put("image/png", &[0u8; 1025]).await,
        Err(StoreError::TooLarge { .. })
    ));
    for bad in [
        "../etc/passwd",
        "",
        "..",
        "/etc/passwd",
        &key.to_uppercase(),
        "a/b",
    ] {
        assert!(
            matches!(files.get(bad).await, Err(StoreError::NotFound)),
            "{bad}"
        );
    }
    assert!(files.remove(&key).await.unwrap());
    assert!(!files.remove(&key).await.unwrap());
    assert!(matches!(files.get(&key).await, Err(StoreError::NotFound)));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn attachments_are_for_members_only() {
    for store in &backends().await.stores {
        let (conv, owner, members) = group(store, 1).await;
        let eve = uid("eve");
        let att = store
            .create_attachment(&owner, &conv.id, "../../photo.png", "image/png", 10, "k1")
            .await
            .unwrap();
        assert_eq!(att.filename, "photo.png");
        assert!(matches!(
            store
                .create_attachment(&eve, &conv.id, "x.png", "image/png", 10, "k2")
                .await,
            Err(StoreError::NotMember)
        ));
        assert!(matches!(
            store
                .create_attachment(
                    &owner,
                    &conv.id,
                    "x.exe",
                    "application/x-msdownload",
                    1,
                    "k"
                )
                .await,
            Err(StoreError::ContentTypeNotAllowed(_))
        ));
        assert!(matches!(
            store
                .create_attachment(
                    &owner,
                    &conv.id,
                    "x.pdf",
                    "application/pdf",
                    DEFAULT_MAX_ATTACHMENT_BYTES + 1,
                    "k"
                )
                .await,
            Err(StoreError::TooLarge { .. })
        ));
        // Someone else cannot send my upload; I can, once.
        let mut theirs = msg(&conv, &members[0], "");
        theirs.attachments = vec![att.id.clone()];
        assert!(matches!(
            store.send(theirs).await,
            Err(StoreError::Invalid(_))
        ));
        let mut mine = msg(&conv, &owner, "");
        mine.attachments = vec![att.id.clone()];
        let (sent, _) = store.send(mine).await.unwrap();
        assert_eq!(sent.attachments.len(), 1);
        assert_eq!(
            sent.attachments[0].message_id.as_deref(),
            Some(sent.id.as_str())
        );
        let mut twice = msg(&conv, &owner, "again");
        twice.attachments = vec![att.id.clone()];
        assert!(matches!(
            store.send(twice).await,
            Err(StoreError::Invalid(_))
        ));

        assert_eq!(
            store
                .attachment(&members[0], &att.id)
                .await
                .unwrap()
                .storage_key,
            "k1"
        );
        assert!(matches!(
            store.attachment(&eve, &att.id).await,
            Err(StoreError::NotMember)
        ));
        assert!(matches!(
            store.attachment(&owner, &uid("a")).await,
            Err(StoreError::NotFound)
        ));
        // Deleting the message releases the file.
        let deleted = store.delete(&owner, &sent.id, false).await.unwrap();
        assert_eq!(deleted.storage_keys, vec!["k1".to_string()]);
        assert!(deleted.message.attachments.is_empty());
        assert!(matches!(
            store.attachment(&owner, &att.id).await,
            Err(StoreError::NotFound)
        ));
    }
}
