//! Call invitations: who rings whom, and how it ended. The store keeps the state machine
//! (see [`crate::calls`]) and nothing about devices or timers: signaling rings devices, arms a
//! timer per invitation and calls [`Store::expire_invitations`] when it fires (and once at
//! startup, so what rang through a restart ends as missed instead of ringing forever).
//!
//! Every transition locks the invitation row first (a no-op UPDATE, since SQLite has no
//! `SELECT ... FOR UPDATE`), so two devices accepting at once, or an accept racing the expiry
//! sweep, are serialised and exactly one wins.

use super::reading::IN_CHUNK;
use super::{check_identity, new_id, now_ms, placeholders, require_member, Conn, Store};
use crate::calls::{CallMedia, Invitation, InvitationState, Invitee, InviteeState, MAX_INVITEES};
use crate::model::ConversationKind;
use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};

const INVITATION_COLUMNS: &str = "id, conversation_id, caller, media, room, state, created_at, \
     expires_at, ended_at, answered_by";

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("unexpected value {value:?} in column {column}").into(),
    ))
}

pub(crate) fn media(row: &AnyRow) -> Result<CallMedia, StoreError> {
    let media: String = row.try_get("media")?;
    CallMedia::parse(&media).ok_or_else(|| corrupt("media", &media))
}

fn invitation_row(row: &AnyRow) -> Result<Invitation, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        conversation: row.try_get("conversation_id")?,
        caller: row.try_get("caller")?,
        media: media(row)?,
        room: row.try_get("room")?,
        invitees: Vec::new(),
        state: InvitationState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        created_at_ms: row.try_get("created_at")?,
        expires_at_ms: row.try_get("expires_at")?,
        ended_at_ms: row.try_get("ended_at")?,
        answered_by: row.try_get("answered_by")?,
    })
}

/// Invitations from rows selected with [`INVITATION_COLUMNS`], with their invitees, keeping
/// the row order.
async fn hydrate(conn: &mut Conn, rows: Vec<AnyRow>) -> Result<Vec<Invitation>, StoreError> {
    let mut invitations = rows
        .iter()
        .map(invitation_row)
        .collect::<Result<Vec<_>, _>>()?;
    let index: HashMap<String, usize> = invitations
        .iter()
        .enumerate()
        .map(|(i, inv)| (inv.id.clone(), i))
        .collect();
    let ids: Vec<String> = invitations.iter().map(|i| i.id.clone()).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT invitation_id, identity, state FROM call_invitees
             WHERE invitation_id IN ({}) ORDER BY identity",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("invitation_id")?;
            let state: String = row.try_get("state")?;
            let invitee = Invitee {
                identity: row.try_get("identity")?,
                state: InviteeState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
            };
            if let Some(&i) = index.get(&id) {
                invitations[i].invitees.push(invitee);
            }
        }
    }
    Ok(invitations)
}

async fn invitation_in(conn: &mut Conn, id: &str) -> Result<Invitation, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {INVITATION_COLUMNS} FROM call_invitations WHERE id = $1"
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    hydrate(conn, rows).await?.pop().ok_or(StoreError::NotFound)
}

/// Locks the invitation row until commit, then reads it (and its invitees) as locked.
async fn lock_invitation(conn: &mut Conn, id: &str) -> Result<Invitation, StoreError> {
    let locked = sqlx::query("UPDATE call_invitations SET state = state WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if locked.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    invitation_in(conn, id).await
}

async fn set_invitee(
    conn: &mut Conn,
    id: &str,
    identity: &str,
    state: InviteeState,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE call_invitees SET state = $3 WHERE invitation_id = $1 AND identity = $2")
        .bind(id)
        .bind(identity)
        .bind(state.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// The invitee's own entry, which must still be ringing: `Forbidden` for someone not invited,
/// `Conflict` for an invitee who already answered (or whose ringing ended otherwise).
fn ringing_invitee(invitation: &Invitation, identity: &str) -> Result<(), StoreError> {
    match invitation.invitee(identity) {
        None => Err(StoreError::Forbidden),
        Some(invitee) if invitee.state == InviteeState::Ringing => Ok(()),
        Some(_) => Err(StoreError::Conflict(
            "this invitation no longer rings for you",
        )),
    }
}

/// Ends a still-ringing invitation as `Declined` once nobody is left ringing (and so nobody
/// accepted: an accept moves the invitation out of `Ringing`).
async fn end_if_nobody_rings(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE call_invitations SET state = 'declined', ended_at = $2
         WHERE id = $1 AND state = 'ringing'
           AND NOT EXISTS (SELECT 1 FROM call_invitees
                           WHERE invitation_id = $1 AND state = 'ringing')",
    )
    .bind(id)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends every ringing invitation of `ids` that nobody rings for any more; see
/// [`end_if_nobody_rings`]. For erasure, which can remove the last ringing invitee.
pub(crate) async fn settle(conn: &mut Conn, ids: &[String]) -> Result<(), StoreError> {
    for id in ids {
        end_if_nobody_rings(conn, id).await?;
    }
    Ok(())
}

impl Store {
    /// Starts ringing: the caller must be a member of the conversation (`NotMember`, or
    /// `NotFound` / `Banned`). `invitees` empty means every other member; otherwise each must
    /// be a member other than the caller (`Invalid`), duplicates are ignored. `ttl_ms` > 0 is
    /// how long it rings. The invitation and every invitee start `Ringing`; the room is
    /// `"call-<invitation id>"`.
    pub async fn create_invitation(
        &self,
        caller: &str,
        conversation: &str,
        media: CallMedia,
        invitees: &[String],
        ttl_ms: i64,
    ) -> Result<Invitation, StoreError> {
        check_identity(caller)?;
        if ttl_ms <= 0 {
            return Err(StoreError::invalid("an invitation must ring for some time"));
        }
        if invitees.len() > MAX_INVITEES {
            return Err(StoreError::TooLarge {
                unit: "invitees",
                what: "invitee list",
                size: invitees.len() as u64,
                limit: MAX_INVITEES as u64,
            });
        }
        let mut tx = self.begin_write().await?;
        require_member(&mut tx, conversation, caller).await?;
        let members: BTreeSet<String> =
            sqlx::query("SELECT identity FROM members WHERE conversation_id = $1")
                .bind(conversation)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get("identity"))
                .collect::<Result<_, _>>()?;
        let invited: BTreeSet<&str> = if invitees.is_empty() {
            members
                .iter()
                .map(String::as_str)
                .filter(|m| *m != caller)
                .collect()
        } else {
            let invited: BTreeSet<&str> = invitees.iter().map(String::as_str).collect();
            if invited.contains(caller) {
                return Err(StoreError::invalid("the caller cannot invite themselves"));
            }
            if !invited.iter().all(|i| members.contains(*i)) {
                return Err(StoreError::invalid(
                    "every invitee must be a member of the conversation",
                ));
            }
            invited
        };
        if invited.is_empty() {
            return Err(StoreError::invalid(
                "nobody else to call in this conversation",
            ));
        }
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO call_invitations
                 (id, conversation_id, caller, media, room, state, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, 'ringing', $6, $7)",
        )
        .bind(&id)
        .bind(conversation)
        .bind(caller)
        .bind(media.as_str())
        .bind(format!("call-{id}"))
        .bind(now)
        .bind(now.saturating_add(ttl_ms))
        .execute(&mut *tx)
        .await?;
        for identity in &invited {
            sqlx::query(
                "INSERT INTO call_invitees (invitation_id, identity, state)
                 VALUES ($1, $2, 'ringing')",
            )
            .bind(&id)
            .bind(*identity)
            .execute(&mut *tx)
            .await?;
        }
        let invitation = invitation_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// One invitation, for the server (no actor check). `NotFound`.
    pub async fn invitation(&self, id: &str) -> Result<Invitation, StoreError> {
        let mut conn = self.read().await?;
        invitation_in(&mut conn, id).await
    }

    /// An invitee accepts. `Forbidden` for someone not invited; `Conflict` unless this invitee
    /// is still ringing (already answered, cancelled, missed, declined...).
    ///
    /// The first accept wins the invitation: it becomes `Accepted` with `answered_by` set. In a
    /// direct conversation every other invitee still ringing becomes `AnsweredElsewhere` (a
    /// direct call has one callee). In a group or room conversation the others keep ringing
    /// until they answer or the invitation expires: each may still accept (their entry becomes
    /// `Accepted`, the invitation stays `Accepted` with the first `answered_by`) or decline.
    pub async fn accept_invitation(
        &self,
        identity: &str,
        id: &str,
    ) -> Result<Invitation, StoreError> {
        let mut tx = self.begin_write().await?;
        let invitation = lock_invitation(&mut tx, id).await?;
        ringing_invitee(&invitation, identity)?;
        // A ringing invitee implies a Ringing or Accepted invitation; checked anyway so a bad
        // row cannot reopen an ended invitation.
        match invitation.state {
            InvitationState::Ringing => {
                sqlx::query(
                    "UPDATE call_invitations SET state = 'accepted', answered_by = $2
                     WHERE id = $1",
                )
                .bind(id)
                .bind(identity)
                .execute(&mut *tx)
                .await?;
                let kind: String = sqlx::query("SELECT kind FROM conversations WHERE id = $1")
                    .bind(&invitation.conversation)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("kind")?;
                if ConversationKind::parse(&kind) == Some(ConversationKind::Direct) {
                    sqlx::query(
                        "UPDATE call_invitees SET state = 'answered_elsewhere'
                         WHERE invitation_id = $1 AND state = 'ringing' AND identity <> $2",
                    )
                    .bind(id)
                    .bind(identity)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            InvitationState::Accepted => {}
            _ => return Err(StoreError::Conflict("the invitation has ended")),
        }
        set_invitee(&mut tx, id, identity, InviteeState::Accepted).await?;
        let invitation = invitation_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// An invitee declines; only while it rings for them (`Conflict`), invitees only
    /// (`Forbidden`). When nobody is left ringing and nobody accepted, the invitation ends as
    /// `Declined`.
    pub async fn decline_invitation(
        &self,
        identity: &str,
        id: &str,
    ) -> Result<Invitation, StoreError> {
        self.answer_without_joining(identity, id, InviteeState::Declined)
            .await
    }

    /// The invitee is in another call: their entry becomes `Busy`. Same rules as
    /// [`Store::decline_invitation`], including ending as `Declined` when nobody is left.
    pub async fn mark_invitee_busy(
        &self,
        identity: &str,
        id: &str,
    ) -> Result<Invitation, StoreError> {
        self.answer_without_joining(identity, id, InviteeState::Busy)
            .await
    }

    async fn answer_without_joining(
        &self,
        identity: &str,
        id: &str,
        state: InviteeState,
    ) -> Result<Invitation, StoreError> {
        let mut tx = self.begin_write().await?;
        let invitation = lock_invitation(&mut tx, id).await?;
        ringing_invitee(&invitation, identity)?;
        set_invitee(&mut tx, id, identity, state).await?;
        end_if_nobody_rings(&mut tx, id).await?;
        let invitation = invitation_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// The caller hangs up before anyone answered: only the caller (`Forbidden`), only while
    /// `Ringing` (`Conflict`, e.g. after an accept). The invitation and every ringing invitee
    /// become `Cancelled`.
    pub async fn cancel_invitation(
        &self,
        caller: &str,
        id: &str,
    ) -> Result<Invitation, StoreError> {
        let mut tx = self.begin_write().await?;
        let invitation = lock_invitation(&mut tx, id).await?;
        if invitation.caller.is_empty() || invitation.caller != caller {
            return Err(StoreError::Forbidden);
        }
        if invitation.state != InvitationState::Ringing {
            return Err(StoreError::Conflict("the invitation no longer rings"));
        }
        cancel_in(&mut tx, id).await?;
        let invitation = invitation_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// The expiry sweep: every `Ringing` invitation with `expires_at_ms <= now_ms` becomes
    /// `Missed` (its ringing invitees `Missed`, `ended_at_ms` = its `expires_at_ms`), and is
    /// returned; each is returned by exactly one sweep, also when sweeps run concurrently.
    /// Invitees of `Accepted` invitations still ringing past expiry become `Missed` too, but
    /// those invitations stay `Accepted` and are not returned.
    pub async fn expire_invitations(&self, now_ms: i64) -> Result<Vec<Invitation>, StoreError> {
        let mut tx = self.begin_write().await?;
        let missed: Vec<String> = sqlx::query(
            "UPDATE call_invitations SET state = 'missed', ended_at = expires_at
             WHERE state = 'ringing' AND expires_at <= $1
             RETURNING id",
        )
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
        // Ringing invitees exist only under Ringing (now Missed) or Accepted invitations.
        sqlx::query(
            "UPDATE call_invitees SET state = 'missed'
             WHERE state = 'ringing' AND invitation_id IN (
                 SELECT id FROM call_invitations
                 WHERE state IN ('missed', 'accepted') AND expires_at <= $1)",
        )
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let mut invitations = Vec::with_capacity(missed.len());
        for chunk in missed.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {INVITATION_COLUMNS} FROM call_invitations WHERE id IN ({})
                 ORDER BY expires_at, id",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            let rows = query.fetch_all(&mut *tx).await?;
            invitations.extend(hydrate(&mut tx, rows).await?);
        }
        tx.commit().await?;
        Ok(invitations)
    }

    /// Every invitation still `Ringing`, soonest expiry first: after a restart, signaling
    /// re-arms their timers (after sweeping the expired ones with
    /// [`Store::expire_invitations`]).
    pub async fn ringing_invitations(&self) -> Result<Vec<Invitation>, StoreError> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM call_invitations
             WHERE state = 'ringing' ORDER BY expires_at, id"
        ))
        .fetch_all(&mut *conn)
        .await?;
        hydrate(&mut conn, rows).await
    }

    /// What should ring (or show "calling…") on a device of `identity` that connects now: the
    /// invitations they are still a ringing invitee of (the invitation `Ringing`, or `Accepted`
    /// in a group), and the `Ringing` ones they placed. Soonest expiry first.
    pub async fn ringing_invitations_for(
        &self,
        identity: &str,
    ) -> Result<Vec<Invitation>, StoreError> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM call_invitations
             WHERE (state = 'ringing' AND caller = $1)
                OR (state IN ('ringing', 'accepted') AND id IN (
                        SELECT invitation_id FROM call_invitees
                        WHERE identity = $1 AND state = 'ringing'))
             ORDER BY expires_at, id"
        ))
        .bind(identity)
        .fetch_all(&mut *conn)
        .await?;
        hydrate(&mut conn, rows).await
    }
}

/// Cancels a ringing invitation (the caller hung up, or the caller was erased).
pub(crate) async fn cancel_in(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE call_invitations SET state = 'cancelled', ended_at = $2
         WHERE id = $1 AND state = 'ringing'",
    )
    .bind(id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE call_invitees SET state = 'cancelled'
         WHERE invitation_id = $1 AND state = 'ringing'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
