//! Which node holds each room. A room lives on one node (its media plane and signaling); the
//! claim is a row in the shared store, taken with compare-and-set (`chat::Store::claim_room`)
//! so two nodes never both hold a room, and kept by renewing its lease while the room is open
//! there. A node that dies stops renewing: its claims lapse after [`LEASE`], and sooner when the
//! others see its heartbeats stop (they end its claims, [`RoomPlacement::node_gone`]).

use crate::messaging::now_ms;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a claim holds without renewal (renewed every heartbeat, 2 s).
pub const LEASE: Duration = Duration::from_secs(10);

/// Each other live node's load figure (rooms open there), as its heartbeats say.
pub type Loads = Arc<Mutex<HashMap<String, u64>>>;

pub struct RoomPlacement {
    store: chat::Store,
    /// This process among the nodes (`super::incarnation`).
    pub me: String,
    loads: Loads,
    sfu_stats: Arc<sfu::SfuStats>,
}

fn lease_ms() -> i64 {
    i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX)
}

/// The node a new room goes to: the one with the fewest rooms, this one when it is among the
/// fewest (no relay needed), else the lowest name (every node picks the same).
pub fn least_loaded(me: &str, mine: u64, others: &HashMap<String, u64>) -> String {
    let mut best = (mine, me);
    for (node, &rooms) in others {
        if rooms < best.0 || (rooms == best.0 && best.1 != me && node.as_str() < best.1) {
            best = (rooms, node.as_str());
        }
    }
    best.1.to_owned()
}

impl RoomPlacement {
    pub fn new(
        store: chat::Store,
        me: String,
        loads: Loads,
        sfu_stats: Arc<sfu::SfuStats>,
    ) -> Self {
        Self {
            store,
            me,
            loads,
            sfu_stats,
        }
    }

    /// The node holding `room`: the one with a running claim, else the least loaded live node,
    /// claimed for it (it keeps the claim by renewing it once the room is open there; a claim
    /// nobody opens lapses).
    pub async fn place(&self, room: &str) -> Result<String, chat::StoreError> {
        let now = now_ms();
        if let Some(holder) = self.store.room_holder(room, now).await? {
            return Ok(holder);
        }
        let candidate = {
            let mine = sfu::SfuStats::get(&self.sfu_stats.rooms);
            let loads = self.loads.lock().map(|l| l.clone()).unwrap_or_default();
            least_loaded(&self.me, mine, &loads)
        };
        self.store
            .claim_room(room, &candidate, now, now.saturating_add(lease_ms()))
            .await
    }

    /// Claims `room` for this node (a join arriving here, relayed or not): `false` when another
    /// node holds it.
    pub async fn claim_here(&self, room: &str) -> Result<bool, chat::StoreError> {
        let now = now_ms();
        let holder = self
            .store
            .claim_room(room, &self.me, now, now.saturating_add(lease_ms()))
            .await?;
        Ok(holder == self.me)
    }

    /// Keeps this node's claims of the rooms open here; a room whose claim ended (this node
    /// was thought gone, NATS being down) is claimed again if nobody took it meanwhile.
    pub async fn renew(&self, open: &[String]) -> Result<(), chat::StoreError> {
        let now = now_ms();
        let until = now.saturating_add(lease_ms());
        let renewed = self.store.renew_rooms(&self.me, open, until).await?;
        if renewed < open.len() as u64 {
            for room in open {
                self.store.claim_room(room, &self.me, now, until).await?;
            }
        }
        Ok(())
    }

    /// The room closed here.
    pub async fn release(&self, room: &str) {
        if let Err(err) = self.store.release_room(room, &self.me).await {
            tracing::warn!(%err, "could not release a closed room's claim; it lapses");
        }
    }

    /// Every claim of this node ends (it is stopping): its rooms are placed elsewhere at once.
    pub async fn release_all(&self) {
        if let Err(err) = self.store.release_node_rooms(&self.me).await {
            tracing::warn!(%err, "could not release this node's rooms; their claims lapse");
        }
    }

    /// `nodes` went silent: their claims end, so their rooms are placed anew at the next join.
    pub async fn node_gone(&self, nodes: &[String]) {
        for node in nodes {
            if let Err(err) = self.store.release_node_rooms(node).await {
                tracing::warn!(%err, "could not end a silent node's claims; they lapse");
            }
        }
    }
}

/// Renews this node's claims of the rooms open here every heartbeat, until shutdown.
pub async fn keep_claims(relay: Arc<super::Relay>, state: crate::state::AppState) {
    let mut tick = tokio::time::interval(super::presence::HEARTBEAT);
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let open: Vec<String> = state.rooms.list().into_iter().map(|r| r.name).collect();
        if open.is_empty() {
            continue;
        }
        if let Err(err) = relay.placement.renew(&open).await {
            tracing::warn!(%err, "could not renew this node's room claims");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This node's rooms, the others' rooms, the node chosen.
    type Row = (u64, &'static [(&'static str, u64)], &'static str);

    #[test]
    #[rustfmt::skip]
    fn a_new_room_goes_to_the_least_loaded_node_preferring_this_one() {
        let rows: &[Row] = &[
            (0, &[],                      "me"),
            (3, &[("b", 1), ("c", 2)],    "b"),
            (1, &[("b", 1), ("c", 1)],    "me"),  // a tie: this node, no relay
            (5, &[("c", 2), ("b", 2)],    "b"),   // a tie elsewhere: the lowest name
            (2, &[("b", 7)],              "me"),
        ];
        for (mine, others, chosen) in rows {
            let others: HashMap<String, u64> = others.iter().map(|(n, r)| (n.to_string(), *r)).collect();
            assert_eq!(least_loaded("me", *mine, &others), *chosen, "{mine} {others:?}");
        }
    }
}
