//! People known to the server, keyed by the identity their tokens carry.

use super::{check_identity, check_text, now_ms, placeholders, rows, Store};
use crate::model::User;
use crate::StoreError;

const MAX_DISPLAY_NAME_BYTES: usize = 256;
const MAX_AVATAR_URL_BYTES: usize = 2048;
/// Most identities one `users` call resolves.
pub const MAX_USERS_LOOKUP: usize = 500;

impl Store {
    /// Records that an identity connected, updating its display name (the avatar is kept).
    pub async fn upsert_user(&self, identity: &str, display_name: &str) -> Result<(), StoreError> {
        check_identity(identity)?;
        check_text("display name", display_name, MAX_DISPLAY_NAME_BYTES)?;
        sqlx::query(
            "INSERT INTO users (identity, display_name, created_at, last_seen_at)
             VALUES ($1, $2, $3, $3)
             ON CONFLICT (identity) DO UPDATE
             SET display_name = excluded.display_name, last_seen_at = excluded.last_seen_at",
        )
        .bind(identity)
        .bind(display_name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets or clears the avatar of a known user. `NotFound` for an unknown identity.
    pub async fn set_avatar_url(
        &self,
        identity: &str,
        avatar_url: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(url) = avatar_url {
            check_text("avatar URL", url, MAX_AVATAR_URL_BYTES)?;
        }
        let done = sqlx::query("UPDATE users SET avatar_url = $2 WHERE identity = $1")
            .bind(identity)
            .bind(avatar_url)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn user(&self, identity: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM users WHERE identity = $1",
            rows::USER_COLUMNS
        ))
        .bind(identity)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::user).transpose()
    }

    /// The known users among `identities` (unknown ones are left out), sorted by identity.
    pub async fn users(&self, identities: &[String]) -> Result<Vec<User>, StoreError> {
        if identities.len() > MAX_USERS_LOOKUP {
            return Err(StoreError::TooLarge {
                unit: "identities",
                what: "identity list",
                size: identities.len() as u64,
                limit: MAX_USERS_LOOKUP as u64,
            });
        }
        if identities.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM users WHERE identity IN ({}) ORDER BY identity",
            rows::USER_COLUMNS,
            placeholders(1, identities.len())
        );
        let mut query = sqlx::query(&sql);
        for identity in identities {
            query = query.bind(identity.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::user)
            .collect()
    }
}
