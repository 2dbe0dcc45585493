//! Full-text search over the actor's conversations: PostgreSQL `websearch_to_tsquery` on a GIN
//! expression index, SQLite FTS5. The user's text is never query syntax: PostgreSQL's web
//! search parser accepts anything, and for FTS5 every word becomes a quoted phrase.

use super::reading::hydrate;
use super::{require_member, rows, Dialect, Store};
use crate::model::{Message, MAX_SEARCH_LIMIT};
use crate::StoreError;

const MAX_QUERY_BYTES: usize = 1024;

/// `foo AND (` → `"foo" "AND"`: each word a phrase (implicit AND), quotes doubled, tokens with
/// nothing to match dropped so FTS5 never sees an empty phrase.
fn fts5_query(query: &str) -> String {
    query
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Store {
    /// Messages matching `query` in the actor's conversations (or in `conversation` only, which
    /// must be theirs), newest first, deleted ones excluded. A query with no words finds nothing.
    pub async fn search(
        &self,
        actor: &str,
        query: &str,
        conversation: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_SEARCH_LIMIT));
        // Cut at a char boundary and drop NULs: search input is never an error.
        let mut query: String = query.chars().filter(|c| *c != '\0').collect();
        if query.len() > MAX_QUERY_BYTES {
            let mut cut = MAX_QUERY_BYTES;
            while !query.is_char_boundary(cut) {
                cut -= 1;
            }
            query.truncate(cut);
        }
        let mut conn = self.read().await?;
        if let Some(conversation) = conversation {
            require_member(&mut conn, conversation, actor).await?;
        }
        let (matcher, query) = match self.dialect {
            Dialect::Postgres => (
                "to_tsvector('simple', coalesce(m.text, '')) @@ websearch_to_tsquery('simple', $2)",
                query,
            ),
            Dialect::Sqlite => (
                "m.pk IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH $2)",
                fts5_query(&query),
            ),
        };
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM messages m
             JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.identity = $1
             WHERE m.deleted_at IS NULL AND m.seq > mb.visible_from_seq AND {matcher}
               AND ($3 = '' OR m.conversation_id = $3)
             ORDER BY m.created_at DESC, m.seq DESC
             LIMIT $4",
            rows::MESSAGE_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(actor)
            .bind(query)
            .bind(conversation.unwrap_or(""))
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        hydrate(&mut conn, rows).await
    }
}

#[cfg(test)]
mod tests {
    use super::fts5_query;

    #[test]
    fn fts5_queries_are_quoted_words() {
        assert_eq!(fts5_query("\"foo AND ("), "\"\"\"foo\" \"AND\"");
        assert_eq!(fts5_query("  ( ) * "), "");
        assert_eq!(fts5_query("héllo wörld"), "\"héllo\" \"wörld\"");
    }
}
