//! Which worker each room lives on. A room is placed when its first participant joins, on the
//! worker with the fewest participants (then the fewest rooms, then the lowest index), and
//! stays there while anyone is in it; every request about a participant goes to its room's
//! worker. Pure bookkeeping: the driver reserves a place before a join goes to a worker and
//! gives it back when the join is refused or the participant is gone.

use super::WorkerIndex;
use crate::ids::ParticipantSid;
use std::collections::HashMap;

/// What one worker holds, as placement counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerLoad {
    pub rooms: usize,
    pub participants: usize,
}

#[derive(Debug)]
pub struct Placement {
    workers: Vec<WorkerLoad>,
    rooms: HashMap<String, Placed>,
    participants: HashMap<ParticipantSid, String>,
}

#[derive(Debug, Clone, Copy)]
struct Placed {
    worker: WorkerIndex,
    participants: usize,
}

impl Placement {
    pub fn new(workers: usize) -> Self {
        Self {
            workers: vec![WorkerLoad::default(); workers.max(1)],
            rooms: HashMap::new(),
            participants: HashMap::new(),
        }
    }

    /// Reserves a place for `sid` in `room` and says on which worker; `None` if `sid` is
    /// placed already (its join goes to that worker, which refuses it: nothing to undo).
    pub fn join(&mut self, room: &str, sid: &ParticipantSid) -> (WorkerIndex, bool) {
        if let Some(worker) = self.participant(sid) {
            return (worker, false);
        }
        let least = self.least_loaded();
        let placed = self.rooms.entry(room.to_owned()).or_insert(Placed {
            worker: least,
            participants: 0,
        });
        // Only a room just placed is in the map with nobody in it (`leave` removes empty ones).
        if placed.participants == 0 {
            self.workers[placed.worker].rooms += 1;
        }
        placed.participants += 1;
        let worker = placed.worker;
        self.workers[worker].participants += 1;
        self.participants.insert(sid.clone(), room.to_owned());
        (worker, true)
    }

    /// `sid` is gone (its join was refused, or it left): its room is freed when it was the last.
    pub fn leave(&mut self, sid: &ParticipantSid) {
        let Some(room) = self.participants.remove(sid) else {
            return;
        };
        let Some(placed) = self.rooms.get_mut(&room) else {
            return;
        };
        placed.participants -= 1;
        let worker = placed.worker;
        self.workers[worker].participants -= 1;
        if placed.participants == 0 {
            self.rooms.remove(&room);
            self.workers[worker].rooms -= 1;
        }
    }

    pub fn room(&self, room: &str) -> Option<WorkerIndex> {
        self.rooms.get(room).map(|p| p.worker)
    }

    pub fn participant(&self, sid: &ParticipantSid) -> Option<WorkerIndex> {
        self.participants.get(sid).and_then(|room| self.room(room))
    }

    pub fn loads(&self) -> &[WorkerLoad] {
        &self.workers
    }

    fn least_loaded(&self) -> WorkerIndex {
        (0..self.workers.len())
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
        let mut placement = Placement::new(2);
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
                Join(room, sid) => Some(placement.join(room, &sid.into()).0),
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
        let mut placement = Placement::new(1);
        assert_eq!(placement.join("a", &"p".into()), (0, true));
        assert_eq!(placement.join("b", &"p".into()), (0, false));
        assert_eq!(
            placement.loads()[0],
            WorkerLoad {
                rooms: 1,
                participants: 1
            }
        );
    }
}
