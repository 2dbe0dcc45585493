//! One storage handle over either database. Each query is written once per dialect only where
//! the dialects differ; both run the same test suite.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("cannot create the data directory: {0}")]
    DataDir(std::io::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub identity: String,
    pub display_name: String,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
}

#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Connects and runs migrations. SQLite files are created (with their directory) on demand
    /// and use WAL so readers do not block the writer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(StoreError::DataDir)?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Self::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Self::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(store)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Records that an identity connected, updating its display name.
    pub async fn upsert_user(&self, identity: &str, display_name: &str) -> Result<(), StoreError> {
        let now = now_ms();
        // Same SQL on both: ON CONFLICT ... DO UPDATE is shared syntax; only placeholders differ.
        match self {
            Self::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO users (identity, display_name, created_at, last_seen_at)
                     VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT (identity) DO UPDATE
                     SET display_name = excluded.display_name, last_seen_at = excluded.last_seen_at",
                )
                .bind(identity)
                .bind(display_name)
                .bind(now)
                .execute(pool)
                .await?;
            }
            Self::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO users (identity, display_name, created_at, last_seen_at)
                     VALUES ($1, $2, $3, $3)
                     ON CONFLICT (identity) DO UPDATE
                     SET display_name = excluded.display_name, last_seen_at = excluded.last_seen_at",
                )
                .bind(identity)
                .bind(display_name)
                .bind(now)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn user(&self, identity: &str) -> Result<Option<User>, StoreError> {
        const COLUMNS: &str = "identity, display_name, created_at, last_seen_at";
        let row = match self {
            Self::Sqlite(pool) => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE identity = ?1"))
                    .bind(identity)
                    .fetch_optional(pool)
                    .await?
                    .map(|r| user_from(&r))
            }
            Self::Postgres(pool) => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE identity = $1"))
                    .bind(identity)
                    .fetch_optional(pool)
                    .await?
                    .map(|r| user_from(&r))
            }
        };
        Ok(row.transpose()?)
    }

    /// Erases everything stored about an identity (a patient's right to deletion).
    pub async fn delete_user(&self, identity: &str) -> Result<bool, StoreError> {
        let affected = match self {
            Self::Sqlite(pool) => sqlx::query("DELETE FROM users WHERE identity = ?1")
                .bind(identity)
                .execute(pool)
                .await?
                .rows_affected(),
            Self::Postgres(pool) => sqlx::query("DELETE FROM users WHERE identity = $1")
                .bind(identity)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(affected > 0)
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

fn user_from<R: Row>(row: &R) -> Result<User, sqlx::Error>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(User {
        identity: row.try_get("identity")?,
        display_name: row.try_get("display_name")?,
        created_at_ms: row.try_get("created_at")?,
        last_seen_at_ms: row.try_get("last_seen_at")?,
    })
}
