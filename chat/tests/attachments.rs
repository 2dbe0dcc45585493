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
    assert!(matches!(
        files.put("image/png", b"<svg onload=alert(1)>").await,
        Err(StoreError::ContentMismatch(_))
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
    // Listing for the stray-file sweep: only stored keys written in the window; a `.part`
    // left by an interrupted write in the window goes.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let old_key = files.put("text/plain", b"old").await.unwrap();
    std::fs::File::options()
        .write(true)
        .open(dir.join(&old_key))
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let part = dir.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
    std::fs::write(&part, b"half").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&part)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    std::fs::write(dir.join("not-a-key"), b"x").unwrap();
    let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    assert_eq!(
        files.files_written_between(None, minute_ago).await.unwrap(),
        vec![old_key.clone()]
    );
    assert!(!part.exists());
    assert!(files
        .files_written_between(Some(minute_ago), std::time::SystemTime::now())
        .await
        .unwrap()
        .contains(&key));
    assert!(files.remove(&old_key).await.unwrap());
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

        // The sweep of uploads never sent (here rather than in a test of its own: it removes
        // every unsent upload in the shared PostgreSQL database, which a parallel test of
        // this file could be holding).
        let (unsent_key, sent_key) = (uid("unsent"), uid("sent"));
        let unsent = store
            .create_attachment(&owner, &conv.id, "a.txt", "text/plain", 1, &unsent_key)
            .await
            .unwrap();
        let kept = store
            .create_attachment(&owner, &conv.id, "b.txt", "text/plain", 1, &sent_key)
            .await
            .unwrap();
        let mut with_file = msg(&conv, &owner, "");
        with_file.attachments = vec![kept.id.clone()];
        store.send(with_file).await.unwrap();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(!store
            .remove_unsent_uploads(now_ms - 60_000, 10_000)
            .await
            .unwrap()
            .contains(&unsent_key));
        let swept = store
            .remove_unsent_uploads(now_ms + 1, 10_000)
            .await
            .unwrap();
        assert!(swept.contains(&unsent_key), "{swept:?}");
        assert!(!swept.contains(&sent_key), "{swept:?}");
        assert!(matches!(
            store.attachment(&owner, &unsent.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(store.attachment(&owner, &kept.id).await.is_ok());
        let known = store
            .known_storage_keys(&[unsent_key.clone(), sent_key.clone(), uid("never")])
            .await
            .unwrap();
        assert_eq!(known, [sent_key].into_iter().collect());
    }
}
