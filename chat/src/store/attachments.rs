//! Attachment metadata. The bytes live in an [`crate::AttachmentStore`] under `storage_key`;
//! this table says who may download them (members of the conversation).

use super::{check_text, new_id, now_ms, require_member, rows, Store};
use crate::files::{check_upload, normalize_content_type, DEFAULT_MAX_ATTACHMENT_BYTES};
use crate::model::Attachment;
use crate::StoreError;
use sqlx::Row;
use std::collections::HashSet;

const MAX_FILENAME_BYTES: usize = 255;
const MAX_STORAGE_KEY_BYTES: usize = 128;

impl Store {
    /// Records an upload to a conversation, before the message that carries it is sent.
    /// The uploader must be a member and not muted; the content type must be allowed and the
    /// size within [`DEFAULT_MAX_ATTACHMENT_BYTES`] (the same rules as the file store).
    pub async fn create_attachment(
        &self,
        uploader: &str,
        conversation: &str,
        filename: &str,
        content_type: &str,
        size: u64,
        storage_key: &str,
    ) -> Result<Attachment, StoreError> {
        let content_type = normalize_content_type(content_type);
        check_upload(&content_type, size, DEFAULT_MAX_ATTACHMENT_BYTES)?;
        // Only the last path component: a filename is a label, never a path.
        let filename = filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .trim();
        if filename.is_empty() {
            return Err(StoreError::invalid("empty file name"));
        }
        check_text("file name", filename, MAX_FILENAME_BYTES)?;
        if storage_key.is_empty() {
            return Err(StoreError::invalid("empty storage key"));
        }
        check_text("storage key", storage_key, MAX_STORAGE_KEY_BYTES)?;
        let size = i64::try_from(size).map_err(|_| StoreError::invalid("size out of range"))?;
        let mut tx = self.begin_write().await?;
        let member = require_member(&mut tx, conversation, uploader).await?;
        if member.muted {
            return Err(StoreError::Muted);
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO attachments (id, conversation_id, uploader, filename, content_type, size,
                                      storage_key, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(conversation)
        .bind(uploader)
        .bind(filename)
        .bind(&content_type)
        .bind(size)
        .bind(storage_key)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM attachments WHERE id = $1",
            rows::ATTACHMENT_COLUMNS
        ))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let attachment = rows::attachment(&row)?;
        tx.commit().await?;
        Ok(attachment)
    }

    /// An attachment's metadata, for members of its conversation only (`NotMember`): check this
    /// before serving the bytes.
    pub async fn attachment(&self, actor: &str, id: &str) -> Result<Attachment, StoreError> {
        let mut conn = self.read().await?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM attachments WHERE id = $1",
            rows::ATTACHMENT_COLUMNS
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
        let attachment = rows::attachment(&row)?;
        let member = match require_member(&mut conn, &attachment.conversation, actor).await {
            Ok(member) => member,
            Err(StoreError::Banned) => return Err(StoreError::NotMember),
            Err(e) => return Err(e),
        };
        // Files of messages from before a room member's visit do not exist for them; an upload
        // not sent yet is its uploader's alone.
        let visible = match &attachment.message_id {
            Some(message) => {
                let seq: Option<i64> = sqlx::query("SELECT seq FROM messages WHERE id = $1")
                    .bind(message)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|row| row.try_get("seq"))
                    .transpose()?;
                seq.is_some_and(|seq| member.sees(seq))
            }
            None => attachment.uploader == actor,
        };
        if visible {
            Ok(attachment)
        } else {
            Err(StoreError::NotFound)
        }
    }

    /// Forgets at most `limit` uploads that were never sent with a message and were made
    /// before `cutoff_ms`; returns their storage keys, whose files the caller removes. The
    /// outer condition is repeated so that on PostgreSQL a row a send claims meanwhile is
    /// re-checked and kept.
    pub async fn remove_unsent_uploads(
        &self,
        cutoff_ms: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let keys = sqlx::query(
            "DELETE FROM attachments
             WHERE message_id IS NULL AND created_at < $1 AND id IN (
                 SELECT id FROM attachments WHERE message_id IS NULL AND created_at < $1
                 ORDER BY created_at LIMIT $2)
             RETURNING storage_key",
        )
        .bind(cutoff_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("storage_key"))
        .collect::<Result<Vec<String>, _>>()?;
        tx.commit().await?;
        Ok(keys)
    }

    /// Which of `keys` an attachment row still names: the others are files nothing refers to
    /// (a crash between writing the file and recording it).
    pub async fn known_storage_keys(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut known = HashSet::new();
        let mut conn = self.read().await?;
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT storage_key FROM attachments WHERE storage_key IN ({})",
                super::placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query.bind(key);
            }
            for row in query.fetch_all(&mut *conn).await? {
                known.insert(row.try_get("storage_key")?);
            }
        }
        Ok(known)
    }
}
