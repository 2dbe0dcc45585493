//! Which server node holds each room when several nodes share the store (`room_nodes`): a
//! claim is a compare-and-set (it succeeds for the node already holding the room, or when the
//! holder's lease ran out), kept by renewing the lease while the room is open on its node. Time
//! is an input (`now_ms`, `until_ms`), so the rules are tested without waiting.

use super::{check_text, placeholders, Store};
use crate::error::StoreError;

/// Room names as long as this are refused (rooms are named by apps; the protocol's limit is
/// lower).
const MAX_ROOM_BYTES: usize = 256;
/// Rooms renewed per statement.
const RENEW_CHUNK: usize = 500;

impl Store {
    /// Claims `room` for `node` until `until_ms` unless another node holds a lease still
    /// running at `now_ms`; returns the node holding the room afterwards (`node` if the claim
    /// succeeded). Atomic: two nodes claiming at once never both get it.
    pub async fn claim_room(
        &self,
        room: &str,
        node: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<String, StoreError> {
        check_text("room", room, MAX_ROOM_BYTES)?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO room_nodes (room, node, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (room) DO UPDATE SET node = excluded.node, until_ms = excluded.until_ms
             WHERE room_nodes.node = excluded.node OR room_nodes.until_ms < $4",
        )
        .bind(room)
        .bind(node)
        .bind(until_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let holder: String = sqlx::query_scalar("SELECT node FROM room_nodes WHERE room = $1")
            .bind(room)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(holder)
    }

    /// The node holding `room` with a lease running at `now_ms`, if any.
    pub async fn room_holder(&self, room: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT node FROM room_nodes WHERE room = $1 AND until_ms >= $2")
                .bind(room)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Extends `node`'s leases of `rooms` (those open on it) to `until_ms`; claims it lost
    /// (another node took the room after the lease ran out) are left alone. Returns the rooms
    /// renewed.
    pub async fn renew_rooms(
        &self,
        node: &str,
        rooms: &[String],
        until_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut renewed = Vec::with_capacity(rooms.len());
        for chunk in rooms.chunks(RENEW_CHUNK) {
            let sql = format!(
                "UPDATE room_nodes SET until_ms = $1 WHERE node = $2 AND room IN ({}) RETURNING room",
                placeholders(3, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql)
                .bind(until_ms)
                .bind(node);
            for room in chunk {
                query = query.bind(room);
            }
            renewed.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(renewed)
    }

    /// `node` no longer holds `room` (it closed there). `false` if it did not hold it.
    pub async fn release_room(&self, room: &str, node: &str) -> Result<bool, StoreError> {
        let released = sqlx::query("DELETE FROM room_nodes WHERE room = $1 AND node = $2")
            .bind(room)
            .bind(node)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(released > 0)
    }

    /// Every claim of `node` ends (it was seen gone, or it is starting anew): its rooms may be
    /// placed elsewhere at once instead of when the leases run out. Returns how many ended.
    pub async fn release_node_rooms(&self, node: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM room_nodes WHERE node = $1")
            .bind(node)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
