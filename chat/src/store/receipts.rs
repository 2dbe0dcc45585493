//! Per-member delivered/read positions. They only move forward, and reading implies delivery.

use super::{require_member, Store};
use crate::model::Receipt;
use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;

fn receipt(row: &AnyRow) -> Result<Receipt, StoreError> {
    Ok(Receipt {
        conversation: row.try_get("conversation_id")?,
        identity: row.try_get("identity")?,
        delivered_up_to: row.try_get("delivered_up_to")?,
        read_up_to: row.try_get("read_up_to")?,
    })
}

impl Store {
    /// Moves the actor's receipt forward. Values beyond the conversation's last message are
    /// clamped to it; values behind the current position leave it where it is.
    pub async fn mark(
        &self,
        actor: &str,
        conversation: &str,
        delivered_up_to: Option<i64>,
        read_up_to: Option<i64>,
    ) -> Result<Receipt, StoreError> {
        if delivered_up_to.is_some_and(|s| s < 0) || read_up_to.is_some_and(|s| s < 0) {
            return Err(StoreError::invalid("negative sequence number"));
        }
        let read = read_up_to.unwrap_or(0);
        let delivered = delivered_up_to.unwrap_or(0).max(read);
        let mut tx = self.begin_write().await?;
        require_member(&mut tx, conversation, actor).await?;
        // CASE rather than GREATEST/MAX: the one spelling both dialects share.
        let row = sqlx::query(
            "UPDATE members SET
                 delivered_up_to = CASE WHEN d.v > delivered_up_to THEN d.v ELSE delivered_up_to END,
                 read_up_to = CASE WHEN d.r > read_up_to THEN d.r ELSE read_up_to END
             FROM (SELECT
                       CASE WHEN $3 < last_seq THEN $3 ELSE last_seq END AS v,
                       CASE WHEN $4 < last_seq THEN $4 ELSE last_seq END AS r
                   FROM conversations WHERE id = $1) AS d
             WHERE conversation_id = $1 AND identity = $2
             RETURNING conversation_id, identity, delivered_up_to, read_up_to",
        )
        .bind(conversation)
        .bind(actor)
        .bind(delivered)
        .bind(read)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotMember)?;
        let receipt = receipt(&row)?;
        tx.commit().await?;
        Ok(receipt)
    }

    /// Every member's receipt, without an authorization check (the server pushes these to the
    /// sender); check membership before showing them to a client.
    pub async fn receipts(&self, conversation: &str) -> Result<Vec<Receipt>, StoreError> {
        sqlx::query(
            "SELECT conversation_id, identity, delivered_up_to, read_up_to FROM members
             WHERE conversation_id = $1 ORDER BY identity",
        )
        .bind(conversation)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(receipt)
        .collect()
    }
}
