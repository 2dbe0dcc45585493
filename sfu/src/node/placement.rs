//! Which workers each room lives on. A room is placed when its first participant joins, on the
//! worker with the fewest participants (then the fewest rooms, then the lowest index). A room
//! grows on that worker until it holds `spread_at` participants there; past that, each join
//! goes to the room's least-filled worker if one has room, else opens the room on the
//! least-loaded worker that does not hold it yet (a *shard*; its core relays media and room
//! state with the others, `core/relay.rs`), else goes to the least-filled one. A participant
//! stays on its worker; a shard closes when its last participant there leaves. Pure
//! bookkeeping: the driver reserves a place before a join goes to a worker and gives it back
//! when the join is refused or the participant is gone.

use super::WorkerIndex;
use crate::ids::ParticipantSid;
use std::collections::HashMap;

/// What one worker holds, as placement counts it (a room spread over workers counts on each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerLoad {
    pub rooms: usize,
    pub participants: usize,
}

/// Where a join goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub worker: WorkerIndex,
    /// A place was reserved (give it back if the join fails); false when `sid` was placed
    /// already (its join goes to that worker, which refuses it: nothing to undo).
    pub reserved: bool,
    /// The room's other workers: the core opening the room on `worker` introduces itself to
    /// them (`input::OpenShard`).
    pub others: Vec<WorkerIndex>,
}

#[derive(Debug)]
pub struct Placement {
    workers: Vec<WorkerLoad>,
    /// Each room's workers with its participants on each; the first is where it opened.
    rooms: HashMap<String, Vec<(WorkerIndex, usize)>>,
    participants: HashMap<ParticipantSid, (String, WorkerIndex)>,
    /// Participants of one room on one worker before it spreads (0: never).
    spread_at: usize,
}

impl Placement {
    /// `spread_at`: participants of one room a worker takes before the room spreads to
    /// another (0: a room stays on one worker).
    pub fn new(workers: usize, spread_at: usize) -> Self {
        Self {
            workers: vec![WorkerLoad::default(); workers.max(1)],
            rooms: HashMap::new(),
            participants: HashMap::new(),
            spread_at,
        }
    }

    /// Reserves a place for `sid` in `room` and says on which worker; `None` when the room
    /// already holds `max` participants over all its workers (checked and reserved in one
    /// step, so two joins on two workers cannot both take the last place).
    pub fn join(&mut self, room: &str, sid: &ParticipantSid, max: Option<u32>) -> Option<Seat> {
        if let Some(worker) = self.participant(sid) {
            return Some(Seat {
                worker,
                reserved: false,
                others: Vec::new(),
            });
        }
        let shards = self.rooms.get(room).map(Vec::as_slice).unwrap_or_default();
        let held: usize = shards.iter().map(|&(_, count)| count).sum();
        if max.is_some_and(|max| held >= max as usize) {
            return None;
        }
        let worker = self.choose(shards);
        let shards = self.rooms.entry(room.to_owned()).or_default();
        let others = shards
            .iter()
            .map(|&(w, _)| w)
            .filter(|&w| w != worker)
            .collect();
        match shards.iter_mut().find(|(w, _)| *w == worker) {
            Some((_, count)) => *count += 1,
            None => {
                shards.push((worker, 1));
                self.workers[worker].rooms += 1;
            }
        }
        self.workers[worker].participants += 1;
        self.participants
            .insert(sid.clone(), (room.to_owned(), worker));
        Some(Seat {
            worker,
            reserved: true,
            others,
        })
    }

    /// The worker a join to a room with these shards goes to.
    fn choose(&self, shards: &[(WorkerIndex, usize)]) -> WorkerIndex {
        let Some(&(home, _)) = shards.first() else {
            return self.least_loaded(|_| true);
        };
        if self.spread_at == 0 {
            return home;
        }
        let (least_filled, count) = shards
            .iter()
            .copied()
            .min_by_key(|&(w, count)| (count, w))
            .unwrap_or((home, 0));
        if count < self.spread_at {
            return least_filled;
        }
        let holds = |w: WorkerIndex| shards.iter().any(|&(s, _)| s == w);
        if shards.len() < self.workers.len() {
            return self.least_loaded(|w| !holds(w));
        }
        least_filled
    }

    /// `sid` is gone (its join was refused, or it left): its shard closes when it was the last
    /// there, the room when it was the last anywhere.
    pub fn leave(&mut self, sid: &ParticipantSid) {
        let Some((room, worker)) = self.participants.remove(sid) else {
            return;
        };
        let Some(shards) = self.rooms.get_mut(&room) else {
            return;
        };
        self.workers[worker].participants -= 1;
        if let Some(i) = shards.iter().position(|(w, _)| *w == worker) {
            shards[i].1 -= 1;
            if shards[i].1 == 0 {
                shards.remove(i);
                self.workers[worker].rooms -= 1;
            }
        }
        if shards.is_empty() {
            self.rooms.remove(&room);
        }
    }

    /// The worker the room opened on (where requests about the whole room go).
    pub fn room(&self, room: &str) -> Option<WorkerIndex> {
        self.rooms.get(room)?.first().map(|&(w, _)| w)
    }

    /// Every worker holding part of the room.
    pub fn shards(&self, room: &str) -> Vec<WorkerIndex> {
        self.rooms
            .get(room)
            .map(|s| s.iter().map(|&(w, _)| w).collect())
            .unwrap_or_default()
    }

    pub fn participant(&self, sid: &ParticipantSid) -> Option<WorkerIndex> {
        self.participants.get(sid).map(|&(_, worker)| worker)
    }

    pub fn loads(&self) -> &[WorkerLoad] {
        &self.workers
    }

    fn least_loaded(&self, allowed: impl Fn(WorkerIndex) -> bool) -> WorkerIndex {
        (0..self.workers.len())
            .filter(|&w| allowed(w))
            .min_by_key(|&w| (self.workers[w].participants, self.workers[w].rooms, w))
            .unwrap_or(0)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Join(&'static str, &'static str),
        Leave(&'static str),
    }
    use Step::*;

    /// (step, worker the join went to, loads after as (rooms, participants) per worker)
    type Row = (Step, Option<usize>, [(usize, usize); 2]);

    #[test]
    fn rooms_go_to_the_least_loaded_worker_and_stay_while_occupied() {
        let mut placement = Placement::new(2, 0);
        #[rustfmt::skip]
        let table: &[Row] = &[
            (Join("a", "a1"),  Some(0), [(1, 1), (0, 0)]),
            (Join("b", "b1"),  Some(1), [(1, 1), (1, 1)]),
            (Join("a", "a2"),  Some(0), [(1, 2), (1, 1)]),
            (Join("c", "c1"),  Some(1), [(1, 2), (2, 2)]),
            (Join("a", "a2"),  Some(0), [(1, 2), (2, 2)]), // already placed: no double count
            (Leave("a1"),      None,    [(1, 1), (2, 2)]),
            (Leave("a2"),      None,    [(0, 0), (2, 2)]),
            (Join("a", "a3"),  Some(0), [(1, 1), (2, 2)]), // an emptied room is placed anew
            (Leave("nobody"),  None,    [(1, 1), (2, 2)]),
            (Leave("b1"),      None,    [(1, 1), (1, 1)]),
            (Join("d", "d1"),  Some(0), [(2, 2), (1, 1)]), // ties go to the lower index
        ];
        for (i, (step, want_worker, want_loads)) in table.iter().enumerate() {
            let worker = match *step {
                Join(room, sid) => placement.join(room, &sid.into(), None).map(|s| s.worker),
                Leave(sid) => {
                    placement.leave(&sid.into());
                    None
                }
            };
            assert_eq!(worker, *want_worker, "row {i}: {step:?}");
            let loads: Vec<_> = placement
                .loads()
                .iter()
                .map(|l| (l.rooms, l.participants))
                .collect();
            assert_eq!(loads, want_loads.to_vec(), "row {i}: {step:?}");
        }
        assert_eq!(placement.participant(&"c1".into()), Some(1));
        assert_eq!(placement.room("a"), Some(0));
        assert_eq!(placement.room("gone"), None);
    }

    #[test]
    fn a_second_join_of_a_placed_participant_reserves_nothing() {
        let mut placement = Placement::new(1, 0);
        assert!(placement.join("a", &"p".into(), None).unwrap().reserved);
        assert!(!placement.join("b", &"p".into(), None).unwrap().reserved);
        assert_eq!(
            placement.loads()[0],
            WorkerLoad {
                rooms: 1,
                participants: 1
            }
        );
    }

    /// (joiner or leaver, worker the join went to and the room's other workers it was told
    /// of, the room's workers after)
    type SpreadRow = (Step, Option<(usize, &'static [usize])>, &'static [usize]);

    #[test]
    fn a_room_past_spread_at_opens_on_other_workers_and_fills_the_emptiest() {
        let mut placement = Placement::new(3, 2);
        #[rustfmt::skip]
        let table: &[SpreadRow] = &[
            (Join("x", "o1"),  Some((0, &[])),     &[]),     // another room first: worker 0 busier
            (Join("a", "a1"),  Some((1, &[])),     &[1]),
            (Join("a", "a2"),  Some((1, &[])),     &[1]),
            (Join("a", "a3"),  Some((2, &[1])),    &[1, 2]), // worker 1 full: the least loaded without it
            (Join("a", "a4"),  Some((2, &[1])),    &[1, 2]),
            (Join("a", "a5"),  Some((0, &[1, 2])), &[1, 2, 0]),
            (Join("a", "a6"),  Some((0, &[1, 2])), &[1, 2, 0]),
            (Join("a", "a7"),  Some((0, &[1, 2])), &[1, 2, 0]), // every worker holds it: the least filled
            (Leave("a3"),      None,               &[1, 2, 0]),
            (Leave("a4"),      None,               &[1, 0]),    // its last there: the shard closes
            (Join("a", "a8"),  Some((2, &[1, 0])), &[1, 0, 2]), // reopened where it has room
            (Leave("a1"),      None,               &[1, 0, 2]),
            (Join("a", "a9"),  Some((1, &[0, 2])), &[1, 0, 2]), // back to the one with a free place
        ];
        for (i, (step, want, want_shards)) in table.iter().enumerate() {
            let seat = match *step {
                Join(room, sid) => placement.join(room, &sid.into(), None),
                Leave(sid) => {
                    placement.leave(&sid.into());
                    None
                }
            };
            let got = seat.map(|s| (s.worker, s.others));
            let want = want.map(|(w, others)| (w, others.to_vec()));
            assert_eq!(got, want, "row {i}: {step:?}");
            assert_eq!(
                placement.shards("a"),
                want_shards.to_vec(),
                "row {i}: {step:?}"
            );
        }
        assert_eq!(placement.room("a"), Some(1));
        assert_eq!(placement.participant(&"a8".into()), Some(2));
    }

    #[test]
    fn a_cap_counts_the_room_on_every_worker() {
        let mut placement = Placement::new(2, 1);
        #[rustfmt::skip]
        let table: &[(&str, Option<u32>, Option<usize>)] = &[
            ("a1", Some(2), Some(0)),
            ("a2", Some(2), Some(1)), // spread: on the other worker
            ("a3", Some(2), None),    // full over both
            ("a4", Some(3), Some(0)),
            ("a5", None,    Some(1)),
        ];
        for (i, (sid, max, want)) in table.iter().enumerate() {
            let seat = placement.join("a", &(*sid).into(), *max);
            assert_eq!(seat.map(|s| s.worker), *want, "row {i}: {sid}");
        }
        assert_eq!(
            placement.participant(&"a3".into()),
            None,
            "a refusal reserves nothing"
        );
    }
}
