//! Every timer of the core in one table, as quinn-proto's `TimerTable`: the core's own ticks
//! by name, and each peer connection's next deadline kept in time order, so asking when the
//! core next wants the clock costs a lookup, not a scan of every connection (the driver asks
//! after every batch of datagrams). Pure, with time as an input.

use crate::ids::PeerId;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// The core's own timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Active speaker reports, while any room has audio levels to judge.
    Speakers,
    /// Layer bitrates measured and downlinks shared again, while there are connections.
    Allocation,
}

impl Timer {
    const COUNT: usize = 2;

    fn index(self) -> usize {
        match self {
            Timer::Speakers => 0,
            Timer::Allocation => 1,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct TimerTable {
    core: [Option<Instant>; Timer::COUNT],
    /// Peer deadlines in time order, and each peer's entry to find it again.
    peers: BTreeSet<(Instant, PeerId)>,
    peer_deadline: HashMap<PeerId, Instant>,
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.core[timer.index()] = Some(at);
    }

    /// Sets `timer` unless it is already running.
    pub(super) fn start(&mut self, timer: Timer, at: Instant) {
        self.core[timer.index()].get_or_insert(at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.core[timer.index()] = None;
    }

    pub(super) fn expired(&self, timer: Timer, now: Instant) -> bool {
        self.core[timer.index()].is_some_and(|at| at <= now)
    }

    /// A peer connection's next deadline (`None`: it wants none, or it is gone).
    pub(super) fn set_peer(&mut self, id: PeerId, at: Option<Instant>) {
        if let Some(old) = self.peer_deadline.remove(&id) {
            self.peers.remove(&(old, id));
        }
        if let Some(at) = at {
            self.peers.insert((at, id));
            self.peer_deadline.insert(id, at);
        }
    }

    /// The peer connections whose deadline is `now` or earlier.
    pub(super) fn due_peers(&self, now: Instant) -> Vec<PeerId> {
        self.peers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|&(_, id)| id)
            .collect()
    }

    /// The earliest of all timers.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.core
            .iter()
            .flatten()
            .copied()
            .chain(self.peers.first().map(|&(at, _)| at))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_timer_wins_and_replaced_deadlines_are_forgotten() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut timers = TimerTable::default();
        assert_eq!(timers.next_timeout(), None);
        timers.set(Timer::Allocation, at(100));
        timers.set_peer(PeerId(1), Some(at(50)));
        timers.set_peer(PeerId(2), Some(at(70)));
        assert_eq!(timers.next_timeout(), Some(at(50)));
        // A peer's new deadline replaces its old one.
        timers.set_peer(PeerId(1), Some(at(200)));
        assert_eq!(timers.next_timeout(), Some(at(70)));
        assert_eq!(timers.due_peers(at(150)), vec![PeerId(2)]);
        timers.set_peer(PeerId(2), None);
        assert_eq!(timers.due_peers(at(150)), Vec::<PeerId>::new());
        // `start` keeps a running timer; `set` moves it.
        timers.start(Timer::Allocation, at(10));
        assert_eq!(timers.next_timeout(), Some(at(100)));
        assert!(!timers.expired(Timer::Allocation, at(99)));
        assert!(timers.expired(Timer::Allocation, at(100)));
        timers.stop(Timer::Allocation);
        timers.start(Timer::Speakers, at(30));
        assert_eq!(timers.next_timeout(), Some(at(30)));
        assert_eq!(timers.due_peers(at(1000)), vec![PeerId(1)]);
    }
}
