//! Erasing a person (the right to deletion). Their messages become anonymous tombstones rather
//! than disappearing, so everyone else's sequence numbers stay gapless; the versions of every
//! touched message move so syncing clients drop the erased content too.
//!
//! Kept on purpose: bans (so erasure is not a way around a ban) and the moderation audit log
//! (accountability); both hold only the identity string.
//!
//! Calls: records and invitations stay (they are everyone's history) with the person taken
//! out: their participant and invitee rows go, `caller` / `started_by` become empty,
//! `answered_by` NULL. An invitation still ringing that they placed is cancelled; one that
//! rang only for them ends as declined ([`Erasure::invitations_ended`] lists both, so the
//! server stops the ringing). System messages about them stay with their text but lose the
//! sender, and every JSON string equal to their identity in the body becomes `null`.

use super::invitations::{cancel_in, settle};
use super::{now_ms, Conn, Store};
use crate::model::Erasure;
use crate::StoreError;
use sqlx::Row;

/// `identity` as a JSON string literal, escaped the way serde_json writes it, so system message
/// bodies the server produced with serde_json can be scrubbed textually (the store does not
/// parse JSON). Only whole string values match: `"ann"` never touches `"anna"`.
fn json_string(identity: &str) -> String {
    let mut out = String::with_capacity(identity.len() + 2);
    out.push('"');
    for c in identity.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Takes the person out of invitations and call records; returns the invitations that stopped
/// ringing because of it.
async fn erase_calls(conn: &mut Conn, identity: &str) -> Result<Vec<String>, StoreError> {
    let ids = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<String>, StoreError> {
        Ok(rows
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?)
    };
    let placed = ids(sqlx::query(
        "SELECT id FROM call_invitations WHERE caller = $1 AND state = 'ringing' ORDER BY id",
    )
    .bind(identity)
    .fetch_all(&mut *conn)
    .await?)?;
    for id in &placed {
        cancel_in(conn, id).await?;
    }
    let invited = ids(sqlx::query(
        "SELECT i.id FROM call_invitations i
         JOIN call_invitees e ON e.invitation_id = i.id AND e.identity = $1
         WHERE i.state = 'ringing' ORDER BY i.id",
    )
    .bind(identity)
    .fetch_all(&mut *conn)
    .await?)?;
    for sql in [
        "DELETE FROM call_invitees WHERE identity = $1",
        "UPDATE call_invitations SET caller = '' WHERE caller = $1",
        "UPDATE call_invitations SET answered_by = NULL WHERE answered_by = $1",
        "DELETE FROM call_participants WHERE identity = $1",
        "UPDATE calls SET started_by = '' WHERE started_by = $1",
    ] {
        sqlx::query(sql).bind(identity).execute(&mut *conn).await?;
    }
    settle(conn, &invited).await?;
    let mut ended = placed;
    for id in invited {
        let state: String = sqlx::query("SELECT state FROM call_invitations WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut *conn)
            .await?
            .try_get("state")?;
        if state != "ringing" && state != "accepted" {
            ended.push(id);
        }
    }
    ended.sort();
    ended.dedup();
    Ok(ended)
}

impl Store {
    /// Erases everything stored about `identity` except bans and audit rows: the user row, their
    /// memberships and receipts, reactions, attachment rows, the bodies, sender and client
    /// ids of their messages, and their part in calls (see the module docs). Returns the
    /// attachment files to remove from disk and the invitations that stopped ringing.
    pub async fn delete_user(&self, identity: &str) -> Result<Erasure, StoreError> {
        let quoted = json_string(identity);
        let mut tx = self.begin_write().await?;
        // The last arm scans system messages: erasure is rare, and a body is opaque text.
        let conversations: Vec<String> = sqlx::query(
            "SELECT DISTINCT conversation_id FROM messages WHERE sender = $1
             UNION
             SELECT DISTINCT m.conversation_id FROM reactions r JOIN messages m ON m.id = r.message_id
             WHERE r.identity = $1
             UNION
             SELECT DISTINCT conversation_id FROM messages
             WHERE system IS NOT NULL AND REPLACE(system, $2, 'null') <> system
             ORDER BY 1",
        )
        .bind(identity)
        .bind(&quoted)
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
                        OR id IN (SELECT message_id FROM reactions WHERE identity = $1)
                        OR REPLACE(system, $3, 'null') <> system)
                 ORDER BY seq",
            )
            .bind(identity)
            .bind(conversation)
            .bind(&quoted)
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
        let invitations_ended = erase_calls(&mut tx, identity).await?;
        // Others' reactions on a system message about this person stay: the message stays.
        for sql in [
            "DELETE FROM attachments
             WHERE uploader = $1 OR message_id IN (SELECT id FROM messages WHERE sender = $1)",
            "DELETE FROM reactions
             WHERE identity = $1 OR message_id IN (
                 SELECT id FROM messages WHERE sender = $1 AND system_key IS NULL)",
            "DELETE FROM members WHERE identity = $1",
            "UPDATE conversations SET created_by = NULL WHERE created_by = $1",
            // The pair key is the identity too; the other side gets a fresh conversation if
            // the identity ever comes back.
            "UPDATE conversations SET direct_a = NULL, direct_b = NULL
             WHERE direct_a = $1 OR direct_b = $1",
        ] {
            sqlx::query(sql).bind(identity).execute(&mut *tx).await?;
        }
        // System messages keep their text (the server's summary, e.g. "Missed call").
        sqlx::query(
            "UPDATE messages
             SET sender = CASE WHEN sender = $1 THEN NULL ELSE sender END,
                 system = REPLACE(system, $2, 'null')
             WHERE system_key IS NOT NULL
               AND (sender = $1 OR REPLACE(system, $2, 'null') <> system)",
        )
        .bind(identity)
        .bind(&quoted)
        .execute(&mut *tx)
        .await?;
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
            invitations_ended,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::json_string;

    #[test]
    fn identities_are_quoted_as_serde_json_writes_them() {
        assert_eq!(json_string("ann"), r#""ann""#);
        assert_eq!(json_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json_string("t\tn\n\u{1}é"), r#""t\tn\n\u0001é""#);
    }
}
