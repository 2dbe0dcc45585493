//! One storage handle over either database, through sqlx's `Any` driver so each query is
//! written once (`$n` placeholders work on SQLite too). Only full-text search differs by
//! dialect. Operations live in submodules by topic; this one holds connection setup and the
//! helpers they share.

mod attachments;
mod audit_room;
mod calls;
mod conversations;
mod erase;
mod invitations;
mod messages;
mod moderation;
mod placement;
mod reading;
mod receipts;
mod rows;
mod search;
mod system;
mod users;

use crate::model::{Member, Role};
use crate::StoreError;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Row, Transaction};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) type Conn = AnyConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    dialect: Dialect,
    /// SQLite has one writer at a time. Writers queue here, in order, rather than in SQLite's
    /// busy handler, which sleeps in growing steps (up to 100 ms) and turned 500 sends a second
    /// into multi-second tails in the chat load test.
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Messages waiting for the next group commit (SQLite; see `Store::send`).
    send_queue: std::sync::Arc<std::sync::Mutex<Vec<messages::QueuedSend>>>,
    /// The server node using this store, when several share it (`with_node`): room visits
    /// are recorded as its own, and it ends only its own at start.
    node: Option<std::sync::Arc<str>>,
}

/// A write transaction, holding the writer's turn on SQLite until it commits or drops.
pub(crate) struct WriteTx {
    tx: Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    /// A transaction begun by a caller that already holds the writer's turn.
    pub(crate) fn unturned(tx: Transaction<'static, sqlx::Any>) -> Self {
        Self { tx, _turn: None }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Rejects what PostgreSQL cannot store (NUL) and what is over the size limit, so both
/// backends refuse the same inputs with the same typed error.
pub(crate) fn check_text(what: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.len() > max {
        return Err(StoreError::TooLarge {
            unit: "bytes",
            what,
            size: value.len() as u64,
            limit: max as u64,
        });
    }
    if value.contains('\0') {
        return Err(StoreError::invalid("text contains a NUL character"));
    }
    Ok(())
}

/// Identities come from signed tokens, but are still bounded so a huge one cannot bloat indexes.
pub(crate) fn check_identity(identity: &str) -> Result<(), StoreError> {
    if identity.is_empty() {
        return Err(StoreError::invalid("empty identity"));
    }
    check_text("identity", identity, 256)
}

/// `$first, $first+1, ...`: the Any driver cannot bind arrays, so id lists become IN lists.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Connects and runs migrations. SQLite files are created (with their directory) on demand,
    /// in WAL mode (readers do not block the writer) with `synchronous = FULL`, so a commit that
    /// returned is on disk.
    /// This store as used by server node `node` of several sharing the database: room
    /// visits it starts are its own, and `end_room_visits` ends only those.
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = Some(node.into());
        self
    }

    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if !in_memory {
                if let Some(dir) = options.get_filename().parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(StoreError::DataDir)?;
                    }
                }
                // The Any driver only reads what the URL says; WAL is a property of the file, so
                // one native connection creates the file and switches it once.
                options.connect().await?.close().await?;
            }
            let pool = AnyPoolOptions::new()
                // Every `:memory:` connection would be a database of its own.
                .max_connections(if in_memory { 1 } else { 4 })
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Self {
                pool,
                dialect: Dialect::Sqlite,
                write_turn: Default::default(),
                send_queue: Default::default(),
                node: None,
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Self {
                pool,
                dialect: Dialect::Postgres,
                write_turn: Default::default(),
                send_queue: Default::default(),
                node: None,
            }
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(store)
    }

    pub fn backend(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    pub async fn close(&self) {
        self.pool.close().await
    }

    /// A transaction that will write. On SQLite it takes the write lock up front: a deferred
    /// transaction that reads first and writes later can fail with SQLITE_BUSY without waiting.
    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self.dialect, Dialect::Sqlite)
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        Ok(match self.dialect {
            Dialect::Sqlite => {
                let turn = self.write_turn.clone().lock_owned().await;
                WriteTx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                }
            }
            Dialect::Postgres => WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            },
        })
    }

    pub(crate) async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }
}

pub(crate) async fn conversation_exists(conn: &mut Conn, id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT id FROM conversations WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .is_some())
}

pub(crate) async fn is_banned(
    conn: &mut Conn,
    conversation: &str,
    identity: &str,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT identity FROM bans WHERE conversation_id = $1 AND identity = $2")
            .bind(conversation)
            .bind(identity)
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

pub(crate) async fn member_of(
    conn: &mut Conn,
    conversation: &str,
    identity: &str,
) -> Result<Option<Member>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM members WHERE conversation_id = $1 AND identity = $2",
        rows::MEMBER_COLUMNS
    ))
    .bind(conversation)
    .bind(identity)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(rows::member).transpose()
}

/// The actor's membership, or why there is none: `Banned`, `NotMember`, or `NotFound` when
/// the conversation does not exist.
pub(crate) async fn require_member(
    conn: &mut Conn,
    conversation: &str,
    identity: &str,
) -> Result<Member, StoreError> {
    if let Some(member) = member_of(conn, conversation, identity).await? {
        return Ok(member);
    }
    if is_banned(conn, conversation, identity).await? {
        Err(StoreError::Banned)
    } else if conversation_exists(conn, conversation).await? {
        Err(StoreError::NotMember)
    } else {
        Err(StoreError::NotFound)
    }
}

/// The actor's membership if they may see `message`: a message from before a room member's
/// visit is `NotFound` to them, as if it did not exist.
pub(crate) async fn require_visible(
    conn: &mut Conn,
    message: &crate::model::Message,
    identity: &str,
) -> Result<Member, StoreError> {
    let member = require_member(conn, &message.conversation, identity).await?;
    if member.sees(message.seq) {
        Ok(member)
    } else {
        Err(StoreError::NotFound)
    }
}

/// Takes the next change version (and, for a new message, the next sequence number) of a
/// conversation. The UPDATE locks the conversation row until commit, which is what makes
/// sequence numbers follow commit order and orders every mutation of the conversation's
/// messages; callers therefore call this before touching messages. Each version stamps exactly
/// one message, so versions are unique within a conversation (sync pages by them).
pub(crate) async fn bump(
    conn: &mut Conn,
    conversation: &str,
    new_message: Option<i64>,
) -> Result<(i64, i64), StoreError> {
    let row = match new_message {
        Some(at) => {
            sqlx::query(
                "UPDATE conversations
                 SET last_seq = last_seq + 1, last_version = last_version + 1,
                     last_message_at = $2
                 WHERE id = $1 RETURNING last_seq, last_version",
            )
            .bind(conversation)
            .bind(at)
            .fetch_optional(conn)
            .await?
        }
        None => {
            sqlx::query(
                "UPDATE conversations SET last_version = last_version + 1
                 WHERE id = $1 RETURNING last_seq, last_version",
            )
            .bind(conversation)
            .fetch_optional(conn)
            .await?
        }
    };
    let row: AnyRow = row.ok_or(StoreError::NotFound)?;
    Ok((row.try_get("last_seq")?, row.try_get("last_version")?))
}

/// Moderation rule shared by every action on another member: the moderate grant allows
/// anything; otherwise the actor must be an owner or moderator, and only owners act on owners.
pub(crate) fn may_moderate(actor: Option<Role>, grant: bool, target: Option<Role>) -> bool {
    if grant {
        return true;
    }
    match actor {
        Some(role) if role.can_moderate() => target != Some(Role::Owner) || role == Role::Owner,
        _ => false,
    }
}

pub(crate) async fn audit(
    conn: &mut Conn,
    conversation: &str,
    actor: &str,
    action: crate::AuditAction,
    target_identity: Option<&str>,
    target_message: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (conversation_id, actor, action, target_identity, target_message, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(conversation)
    .bind(actor)
    .bind(action.as_str())
    .bind(target_identity)
    .bind(target_message)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether an error is a unique-key violation (a concurrent insert won a race).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderation_rule() {
        use Role::*;
        assert!(may_moderate(None, true, Some(Owner)));
        assert!(may_moderate(Some(Moderator), false, Some(Member)));
        assert!(!may_moderate(Some(Moderator), false, Some(Owner)));
        assert!(may_moderate(Some(Owner), false, Some(Owner)));
        assert!(!may_moderate(Some(Member), false, Some(Member)));
        assert!(!may_moderate(None, false, None));
    }

    #[tokio::test]
    async fn sqlite_is_wal_with_full_sync_on_every_connection() {
        let dir = std::env::temp_dir().join(format!("parley-chat-pragma-{}", new_id()));
        let url = format!("sqlite://{}/p.db", dir.display());
        let store = Store::connect(&url).await.unwrap();
        // Hold several connections at once so the check is not only about the first one.
        let mut conns = Vec::new();
        for _ in 0..3 {
            conns.push(store.pool.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let mode: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap()
                .get(0);
            let sync: i64 = sqlx::query("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap()
                .get(0);
            assert_eq!((mode.as_str(), sync), ("wal", 2), "2 is FULL");
        }
        drop(conns);
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(placeholders(1, 0), "");
    }
}
