//! Which node holds each room. A room lives on one node (its media plane and signaling); the
//! claim is a row in the shared store, taken with compare-and-set (`chat::Store::claim_room`)
//! so two nodes never both hold a room, and kept by renewing its lease while the room is open
//! there. A node that dies stops renewing: its claims lapse after [`LEASE`], and sooner when the
//! others see its heartbeats stop (they end its claims, [`RoomPlacement::node_gone`]).

use crate::messaging::now_ms;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a claim holds without renewal (renewed every heartbeat, 2 s).
pub const LEASE: Duration = Duration::from_secs(10);

/// What a node's heartbeat says of its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Rooms open there.
    pub rooms: u64,
    /// Stopping: no new room goes there.
    pub draining: bool,
}

/// Each other live node's load, as its heartbeats say.
pub type Loads = Arc<Mutex<HashMap<String, Load>>>;

pub struct RoomPlacement {
    store: chat::Store,
    /// This process among the nodes (`super::incarnation`).
    pub me: String,
    loads: Loads,
    sfu_stats: Arc<sfu::SfuStats>,
    /// This node is stopping: it places no new room on itself.
    draining: Arc<AtomicBool>,
}

fn lease_ms() -> i64 {
    i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX)
}

/// The node a new room goes to: the one with the fewest rooms, this one when it is among the
/// fewest (no relay needed), else the lowest name (every node picks the same). Stopping nodes
/// (this one: `mine` is `None`) are passed over; if every node is stopping, this one.
pub fn least_loaded(me: &str, mine: Option<u64>, others: &HashMap<String, Load>) -> String {
    let mut best: Option<(u64, &str)> = mine.map(|rooms| (rooms, me));
    for (node, load) in others.iter().filter(|(_, load)| !load.draining) {
        let better = match best {
            None => true,
            Some((rooms, name)) => {
                load.rooms < rooms || (load.rooms == rooms && name != me && node.as_str() < name)
            }
        };
        if better {
            best = Some((load.rooms, node.as_str()));
        }
    }
    best.map_or(me, |(_, node)| node).to_owned()
}

impl RoomPlacement {
    pub fn new(
        store: chat::Store,
        me: String,
        loads: Loads,
        sfu_stats: Arc<sfu::SfuStats>,
        draining: Arc<AtomicBool>,
    ) -> Self {
        Self {
            store,
            me,
            loads,
            sfu_stats,
            draining,
        }
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
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
            let mine = (!self.draining()).then(|| sfu::SfuStats::get(&self.sfu_stats.rooms));
            let loads = self.loads.lock().map(|l| l.clone()).unwrap_or_default();
            least_loaded(&self.me, mine, &loads)
        };
        self.store
            .claim_room(room, &candidate, now, now.saturating_add(lease_ms()))
            .await
    }

    /// The node holding `room` now, if any.
    pub async fn holder(&self, room: &str) -> Result<Option<String>, chat::StoreError> {
        self.store.room_holder(room, now_ms()).await
    }

    /// The other live nodes (heard from in the last few seconds).
    pub fn other_nodes(&self) -> Vec<String> {
        let loads = self.loads.lock().map(|l| l.keys().cloned().collect());
        let mut nodes: Vec<String> = loads.unwrap_or_default();
        nodes.sort();
        nodes
    }

    /// Claims `room` for this node (a join arriving here, relayed or not): `false` when another
    /// node holds it.
    pub async fn claim_here(&self, room: &str) -> Result<bool, chat::StoreError> {
        if self.draining() {
            // Stopping: only the rooms it holds (admission refuses new ones).
            return Ok(self.holder(room).await?.as_deref() == Some(self.me.as_str()));
        }
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
        let renewed: std::collections::HashSet<String> = self
            .store
            .renew_rooms(&self.me, open, until)
            .await?
            .into_iter()
            .collect();
        // Only the rooms whose claim ended are claimed again, one statement each.
        for room in open.iter().filter(|room| !renewed.contains(*room)) {
            self.store.claim_room(room, &self.me, now, until).await?;
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

    /// This node's rooms (`None`: stopping), the others' (name, rooms, stopping), the node
    /// chosen.
    type Row = (
        Option<u64>,
        &'static [(&'static str, u64, bool)],
        &'static str,
    );

    #[test]
    #[rustfmt::skip]
    fn a_new_room_goes_to_the_least_loaded_node_preferring_this_one() {
        let rows: &[Row] = &[
            (Some(0), &[],                                   "me"),
            (Some(3), &[("b", 1, false), ("c", 2, false)],   "b"),
            (Some(1), &[("b", 1, false), ("c", 1, false)],   "me"),  // a tie: this node, no relay
            (Some(5), &[("c", 2, false), ("b", 2, false)],   "b"),   // a tie elsewhere: the lowest name
            (Some(2), &[("b", 7, false)],                    "me"),
            (Some(3), &[("b", 0, true), ("c", 1, false)],    "c"),   // b is stopping
            (None,    &[("b", 4, false), ("c", 1, false)],   "c"),   // this node is stopping
            (None,    &[("b", 0, true)],                     "me"),  // everyone is: nowhere better
        ];
        for (mine, others, chosen) in rows {
            let others: HashMap<String, Load> = others
                .iter()
                .map(|(n, rooms, draining)| (n.to_string(), Load { rooms: *rooms, draining: *draining }))
                .collect();
            assert_eq!(least_loaded("me", *mine, &others), *chosen, "{mine:?} {others:?}");
        }
    }
}
