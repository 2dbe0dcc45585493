//! Erasing a person (the right to deletion). Their messages become anonymous tombstones rather
//! than disappearing, so everyone else's sequence numbers stay gapless; the versions of every
//! touched message move so syncing clients drop the erased content too.
//!
//! Kept on purpose: bans (so erasure is not a way around a ban) and the moderation audit log
//! (accountability); both hold only the identity string.

use super::{now_ms, Store};
use crate::model::Erasure;
use crate::StoreError;
use sqlx::Row;

impl Store {
    /// Erases everything stored about `identity` except bans and audit rows: the user row, their
    /// memberships and receipts, reactions, attachment rows, and the bodies, sender and client
    /// ids of their messages. Returns the attachment files to remove from disk.
    pub async fn delete_user(&self, identity: &str) -> Result<Erasure, StoreError> {
        let mut tx = self.begin_write().await?;
        let conversations: Vec<String> = sqlx::query(
            "SELECT DISTINCT conversation_id FROM messages WHERE sender = $1
             UNION
             SELECT DISTINCT m.conversation_id FROM reactions r JOIN messages m ON m.id = r.message_id
             WHERE r.identity = $1
             ORDER BY 1",
        )
        .bind(identity)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
        for conversation in &conversations {
            // One version per message, never shared: sync pages changes by version, and a page
            // boundary inside a run of equal versions would skip or repeat messages.
            let affected: Vec<String> = sqlx::query(
                "SELECT id FROM messages
                 WHERE conversation_id = $2
                   AND (sender = $1
                        OR id IN (SELECT message_id FROM reactions WHERE identity = $1))
                 ORDER BY seq",
            )
            .bind(identity)
            .bind(conversation)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?;
            let count = i64::try_from(affected.len()).unwrap_or(i64::MAX);
            let top: i64 = sqlx::query(
                "UPDATE conversations SET last_version = last_version + $2
                 WHERE id = $1 RETURNING last_version",
            )
            .bind(conversation)
            .bind(count)
            .fetch_one(&mut *tx)
            .await?
            .try_get("last_version")?;
            for (version, id) in (top - count + 1..).zip(&affected) {
                sqlx::query("UPDATE messages SET version = $2 WHERE id = $1")
                    .bind(id)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let storage_keys: Vec<String> = sqlx::query(
            "SELECT storage_key FROM attachments
             WHERE uploader = $1 OR message_id IN (SELECT id FROM messages WHERE sender = $1)
             ORDER BY storage_key",
        )
        .bind(identity)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("storage_key"))
        .collect::<Result<_, _>>()?;
        for sql in [
            "DELETE FROM attachments
             WHERE uploader = $1 OR message_id IN (SELECT id FROM messages WHERE sender = $1)",
            "DELETE FROM reactions
             WHERE identity = $1 OR message_id IN (SELECT id FROM messages WHERE sender = $1)",
            "DELETE FROM members WHERE identity = $1",
            "UPDATE conversations SET created_by = NULL WHERE created_by = $1",
            // The pair key is the identity too; the other side gets a fresh conversation if
            // the identity ever comes back.
            "UPDATE conversations SET direct_a = NULL, direct_b = NULL
             WHERE direct_a = $1 OR direct_b = $1",
        ] {
            sqlx::query(sql).bind(identity).execute(&mut *tx).await?;
        }
        let messages = sqlx::query(
            "UPDATE messages
             SET text = NULL, sender = NULL, client_msg_id = NULL,
                 deleted_at = COALESCE(deleted_at, $2)
             WHERE sender = $1",
        )
        .bind(identity)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let user_existed = sqlx::query("DELETE FROM users WHERE identity = $1")
            .bind(identity)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        tx.commit().await?;
        Ok(Erasure {
            user_existed,
            messages,
            storage_keys,
        })
    }
}
