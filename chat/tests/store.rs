//! The same suite against SQLite and PostgreSQL (`PARLEY_TEST_POSTGRES_URL`, else the local
//! test database; never skipped: the README's test command starts PostgreSQL and sets it).

use chat::Store;

async fn exercise(store: &Store) {
    let identity = format!("user-{}", uuid_like());
    assert_eq!(store.user(&identity).await.unwrap(), None);
    store.upsert_user(&identity, "Ana").await.unwrap();
    let first = store.user(&identity).await.unwrap().unwrap();
    assert_eq!(first.display_name, "Ana");
    store.upsert_user(&identity, "Ana B.").await.unwrap();
    let second = store.user(&identity).await.unwrap().unwrap();
    assert_eq!(second.display_name, "Ana B.");
    assert_eq!(second.created_at_ms, first.created_at_ms);
    assert!(second.last_seen_at_ms >= first.last_seen_at_ms);
    // Hostile input is data, not SQL.
    let odd = format!("{identity}'; DROP TABLE users; --");
    store.upsert_user(&odd, "x").await.unwrap();
    assert!(store.delete_user(&odd).await.unwrap().user_existed);
    assert!(store.delete_user(&identity).await.unwrap().user_existed);
    assert!(!store.delete_user(&identity).await.unwrap().user_existed);
    assert_eq!(store.user(&identity).await.unwrap(), None);
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn sqlite_store_works_and_creates_its_directory() {
    let dir = std::env::temp_dir().join(format!("parley-chat-{}", uuid_like()));
    let url = format!("sqlite://{}/nested/parley.db?mode=rwc", dir.display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    exercise(&store).await;
    store.close().await;
    // Reopening runs migrations again without error.
    Store::connect(&url).await.unwrap().close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn postgres_store_works() {
    // Never skipped: scripts/test.sh starts PostgreSQL and sets the URL.
    let url = std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let store = Store::connect(&url)
        .await
        .unwrap_or_else(|err| panic!("PostgreSQL at {url} is needed (scripts/test.sh): {err}"));
    assert_eq!(store.backend(), "postgres");
    exercise(&store).await;
    store.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    assert!(matches!(
        Store::connect("mysql://x").await,
        Err(chat::StoreError::UnsupportedUrl)
    ));
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let (a, b) = ("mem-a", "mem-b");
    let conv = store.create_direct(a, b).await.unwrap();
    let send = chat::SendMessage {
        conversation: conv.id.clone(),
        sender: a.into(),
        client_msg_id: "1".into(),
        text: "hi".into(),
        attachments: vec![],
        reply_to: None,
    };
    assert_eq!(store.send(send).await.unwrap().0.seq, 1);
}

#[tokio::test]
async fn outages_are_retriable() {
    // Nothing listens on port 1.
    let err = Store::connect("postgres://postgres@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err:?}");

    // SQLite: another process holds the write lock longer than the busy timeout.
    let dir = std::env::temp_dir().join(format!("parley-chat-busy-{}", uuid_like()));
    let url = format!("sqlite://{}/busy.db?mode=rwc", dir.display());
    let store = Store::connect(&url).await.unwrap();
    let conv = store.create_direct("busy-a", "busy-b").await.unwrap();
    use sqlx::{Connection, Executor};
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    locker.execute("BEGIN IMMEDIATE").await.unwrap();
    let send = chat::SendMessage {
        conversation: conv.id.clone(),
        sender: "busy-a".into(),
        client_msg_id: "1".into(),
        text: "hi".into(),
        attachments: vec![],
        reply_to: None,
    };
    let err = store.send(send.clone()).await.unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    assert!(!chat::StoreError::NotMember.is_retriable());
    locker.execute("ROLLBACK").await.unwrap();
    // Nothing was half-written: the retry gets seq 1.
    assert_eq!(store.send(send).await.unwrap().0.seq, 1);
    let _ = std::fs::remove_dir_all(dir);
}
