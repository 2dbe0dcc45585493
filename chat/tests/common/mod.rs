//! Shared by the store suites: every test runs against SQLite (a fresh file) and, when
//! `PARLEY_TEST_POSTGRES_URL` is set, PostgreSQL. The PostgreSQL database is shared by tests
//! running in parallel and persists between runs, so every test uses fresh random identities
//! and room names.

#![allow(dead_code)]

use chat::{Conversation, Message, SendMessage, Store};

pub struct Backends {
    pub stores: Vec<Store>,
    dir: std::path::PathBuf,
}

impl Drop for Backends {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn uid(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn backends() -> Backends {
    let dir = std::env::temp_dir().join(uid("parley-chat-test"));
    let url = format!("sqlite://{}/chat.db?mode=rwc", dir.display());
    let mut stores = vec![Store::connect(&url).await.expect("sqlite store")];
    // Every store test runs against PostgreSQL too: never skipped (scripts/test.sh starts it).
    let url = std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let postgres = Store::connect(&url).await.unwrap_or_else(|err| {
        panic!("PostgreSQL at {url} is needed (run scripts/test.sh, or set PARLEY_TEST_POSTGRES_URL): {err}")
    });
    stores.push(postgres);
    Backends { stores, dir }
}

/// A group owned by a fresh owner with `n` fresh members: (conversation, owner, members).
pub async fn group(store: &Store, n: usize) -> (Conversation, String, Vec<String>) {
    let owner = uid("owner");
    let members: Vec<String> = (0..n).map(|_| uid("member")).collect();
    let conversation = store
        .create_group(&owner, "test group", &members)
        .await
        .unwrap();
    (conversation, owner, members)
}

pub fn msg(conversation: &Conversation, sender: &str, text: &str) -> SendMessage {
    SendMessage {
        conversation: conversation.id.clone(),
        sender: sender.to_string(),
        client_msg_id: uid("c"),
        text: text.to_string(),
        attachments: Vec::new(),
        reply_to: None,
    }
}

pub async fn send(store: &Store, conversation: &Conversation, sender: &str, text: &str) -> Message {
    let (message, created) = store.send(msg(conversation, sender, text)).await.unwrap();
    assert!(created);
    message
}
