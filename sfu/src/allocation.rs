//! Sharing one subscriber's downlink estimate across the video tracks it receives. Audio is
//! served first (it is cheap and matters most), then every video track gets its smallest layer
//! in priority order (the active speaker first), then tracks climb one layer at a time, again
//! in priority order, while the estimate has room and the subscriber wants more.
//! [`UpgradeHold`] adds the asymmetry: go down at once, go up only after the estimate has had
//! room for a while. Pure, with time as an input.

use std::time::{Duration, Instant};

/// Bitrates assumed for layers not measured yet, by rank (Chromium's usual q/h/f caps).
pub const NOMINAL_LAYER_BPS: [u64; 3] = [150_000, 500_000, 1_500_000];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoDemand {
    /// Lower is more important (0 = the active speaker).
    pub priority: u8,
    /// Measured (or nominal) bitrate of each layer, smallest first.
    pub layer_bps: Vec<u64>,
    /// The best rank the subscriber asked for; `None` = paused.
    pub wanted_rank: Option<usize>,
}

/// The rank each track may have (`None`: paused for lack of bandwidth or by request).
pub fn allocate(budget_bps: u64, audio_bps: u64, tracks: &[VideoDemand]) -> Vec<Option<usize>> {
    let mut left = budget_bps.saturating_sub(audio_bps);
    let mut order: Vec<usize> = (0..tracks.len()).collect();
    order.sort_by_key(|&i| tracks[i].priority);
    let mut ranks: Vec<Option<usize>> = vec![None; tracks.len()];
    let mut first = true;
    for &i in &order {
        let track = &tracks[i];
        let (Some(_), Some(&lowest)) = (track.wanted_rank, track.layer_bps.first()) else {
            continue;
        };
        // The most important video always keeps its smallest layer: a picture beats none.
        if lowest <= left || first {
            left = left.saturating_sub(lowest);
            ranks[i] = Some(0);
            first = false;
        }
    }
    loop {
        let mut climbed = false;
        for &i in &order {
            let track = &tracks[i];
            let (Some(rank), Some(wanted)) = (ranks[i], track.wanted_rank) else {
                continue;
            };
            let next = rank + 1;
            if next > wanted || next >= track.layer_bps.len() {
                continue;
            }
            let extra = track.layer_bps[next].saturating_sub(track.layer_bps[rank]);
            if extra <= left {
                left -= extra;
                ranks[i] = Some(next);
                climbed = true;
            }
        }
        if !climbed {
            return ranks;
        }
    }
}

/// What the allocator offers one down track in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// The rank the budget (estimate plus probing room) allows; `None`: paused.
    pub rank: Option<usize>,
    /// The best rank the subscriber asks for (`None`: paused by request).
    pub wanted: Option<usize>,
    /// The rank the plain estimate pays for, without probing room.
    pub affordable: Option<usize>,
}

impl Offer {
    /// An offer where the request is the only limit (tests, and rounds without an estimate).
    pub fn requested(rank: Option<usize>) -> Self {
        Self {
            rank,
            wanted: rank,
            affordable: rank,
        }
    }
}

/// Applies allocations to one down track with hysteresis: lower at once; higher one layer at a
/// time, each only once a higher offer has stood for the hold. A climb undone by congestion
/// soon after doubles the hold (up to [`UpgradeHold::MAX_HOLD`]), so a path that cannot carry
/// the next layer is not probed every few seconds; a climb that lasts resets it.
/// The hold is for climbs the bandwidth drives. A subscriber that asks for more gets at once
/// what the estimate pays for and the link has carried since its last bandwidth drop (a
/// request back up after asking for less); asking for less is not a failed climb. Resuming
/// from paused is immediate.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpgradeHold {
    started: bool,
    applied: Option<usize>,
    pending: Option<Instant>,
    hold: Option<Duration>,
    last_climb: Option<Instant>,
    last_wanted: Option<usize>,
    /// The highest rank applied since the last bandwidth-driven drop: what the link carried.
    proven: Option<usize>,
}

impl UpgradeHold {
    pub const HOLD: Duration = Duration::from_secs(3);
    pub const MAX_HOLD: Duration = Duration::from_secs(12);
    /// A drop this soon after a climb means the climb failed.
    const FAILED_CLIMB: Duration = Duration::from_secs(5);
    /// A climb that lasts this long succeeded.
    const GOOD_CLIMB: Duration = Duration::from_secs(10);

    fn hold(&self) -> Duration {
        self.hold.unwrap_or(Self::HOLD)
    }

    /// The rank cap to use now, given what the allocator offers at `now`.
    pub fn update(&mut self, offer: Offer, now: Instant) -> Option<usize> {
        let offered = offer.rank;
        let asked_more = offer.wanted > self.last_wanted;
        let asked_less = offer.wanted < self.last_wanted;
        self.last_wanted = offer.wanted;
        let since_climb = self.last_climb.map(|at| now.saturating_duration_since(at));
        if since_climb.is_some_and(|d| d >= Self::GOOD_CLIMB) {
            self.hold = None;
            self.last_climb = None;
        }
        let applied = match (self.applied, offered) {
            (Some(applied), Some(rank)) if self.started && rank > applied => applied,
            _ => {
                let dropped = matches!((self.applied, offered), (Some(a), Some(o)) if o < a)
                    || (self.applied.is_some() && offered.is_none());
                // Less because less was just asked for is no verdict on the path. (A request
                // that merely matches a bandwidth cut, as a tile shrinking with the picture
                // does, is not one: the cut stays the link's.)
                let by_request = asked_less && offered == offer.wanted;
                if dropped && !by_request && since_climb.is_some_and(|d| d < Self::FAILED_CLIMB) {
                    self.hold = Some((self.hold() * 2).min(Self::MAX_HOLD));
                    self.last_climb = None;
                }
                self.proven = if dropped && !by_request {
                    offered
                } else {
                    self.proven.max(offered)
                };
                self.started = true;
                self.applied = offered;
                self.pending = None;
                return self.applied;
            }
        };
        let paid_for = offered
            .min(offer.affordable)
            .min(self.proven)
            .filter(|&r| r > applied);
        if let (true, Some(rank)) = (asked_more, paid_for) {
            self.applied = Some(rank);
            self.pending = None;
            return self.applied;
        }
        match self.pending {
            Some(since) if now.saturating_duration_since(since) >= self.hold() => {
                self.applied = Some(applied + 1);
                self.proven = self.proven.max(self.applied);
                self.pending = None;
                self.last_climb = Some(now);
            }
            Some(_) => {}
            None => self.pending = Some(now),
        }
        self.applied
    }
}

/// What one subscriber's downlink says at an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownlinkReading {
    /// GCC's target now, and at the previous allocation.
    pub estimate_bps: u64,
    pub previous_estimate_bps: u64,
    /// What the layers it receives (or is switching to) carry.
    pub sent_bps: u64,
    /// A congestion event prompted this allocation, with the arrival rate its feedback showed
    /// (`Some(None)`: an event, rate unknown).
    pub congestion: Option<Option<u64>>,
    /// What the link delivered at a recent congestion event, while that is fresh: climbing
    /// past it would only repeat the freeze (GCC's estimate lags high after a collapse).
    pub ceiling_bps: Option<u64>,
}

/// What a subscriber's video may use this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub bps: u64,
    /// The link delivers well under what is sent: layers being lowered stop at once instead of
    /// flowing until the lower layer's keyframe, since their packets would only queue ahead of
    /// that keyframe at the bottleneck and be lost there.
    pub cut: bool,
}

/// Without probing, GCC only confirms rates it has seen, so its level says little about
/// headroom; its direction does: it cuts on delay growth or loss. While it is not falling (and
/// not far below what is sent), one more layer may be tried; the upgrade hold paces the climb.
/// When it falls, what is sent is too much whatever level it is at; and if the feedback showed
/// how much actually arrives, that is the link's capacity, so the budget goes straight there
/// instead of one layer per round.
pub fn downlink_budget(reading: DownlinkReading) -> Budget {
    let DownlinkReading {
        estimate_bps: estimate,
        previous_estimate_bps: previous,
        sent_bps: sent,
        congestion,
        ceiling_bps,
    } = reading;
    let falling = congestion.is_some() || estimate < previous * 95 / 100;
    if falling {
        let mut bps = estimate.min(sent * 85 / 100);
        let mut cut = false;
        if let Some(Some(delivered)) = congestion {
            bps = bps.min(delivered * 90 / 100);
            cut = delivered < sent * 3 / 4;
        }
        return Budget { bps, cut };
    }
    let bps = if estimate < sent / 2 {
        estimate
    } else {
        estimate.max(sent + NOMINAL_LAYER_BPS[2])
    };
    let bps = ceiling_bps.map_or(bps, |ceiling| bps.min(ceiling));
    Budget { bps, cut: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(priority: u8, wanted: Option<usize>) -> VideoDemand {
        VideoDemand {
            priority,
            layer_bps: NOMINAL_LAYER_BPS.to_vec(),
            wanted_rank: wanted,
        }
    }

    #[test]
    fn allocation_table() {
        // (budget, audio, tracks, expected ranks)
        type Case = (u64, u64, Vec<VideoDemand>, Vec<Option<usize>>);
        let cases: Vec<Case> = vec![
            (5_000_000, 40_000, vec![video(0, Some(2))], vec![Some(2)]),
            (2_000_000, 40_000, vec![video(0, Some(2))], vec![Some(2)]),
            (1_000_000, 40_000, vec![video(0, Some(2))], vec![Some(1)]),
            (300_000, 40_000, vec![video(0, Some(2))], vec![Some(0)]),
            // Below even the smallest layer: the only video keeps it anyway.
            (50_000, 40_000, vec![video(0, Some(2))], vec![Some(0)]),
            // The subscriber's own cap and pause win over bandwidth.
            (5_000_000, 0, vec![video(0, Some(0))], vec![Some(0)]),
            (5_000_000, 0, vec![video(0, None)], vec![None]),
            // Speaker first: with 900 kb/s the speaker climbs, the other stays small.
            (
                900_000,
                0,
                vec![video(1, Some(2)), video(0, Some(2))],
                vec![Some(0), Some(1)],
            ),
            // Shared fairly: both get the middle layer before either gets the top one.
            (
                1_100_000,
                0,
                vec![video(0, Some(2)), video(1, Some(2))],
                vec![Some(1), Some(1)],
            ),
            // Not enough for both smallest layers: the less important one is paused.
            (
                200_000,
                0,
                vec![video(0, Some(2)), video(1, Some(2))],
                vec![Some(0), None],
            ),
        ];
        for (i, (budget, audio, tracks, expected)) in cases.into_iter().enumerate() {
            assert_eq!(allocate(budget, audio, &tracks), expected, "case {i}");
        }
    }

    #[test]
    fn budget_table() {
        let reading = |estimate, previous, sent, congestion| DownlinkReading {
            estimate_bps: estimate,
            previous_estimate_bps: previous,
            sent_bps: sent,
            congestion,
            ceiling_bps: None,
        };
        let capped = |estimate, sent, ceiling| DownlinkReading {
            ceiling_bps: Some(ceiling),
            ..reading(estimate, estimate, sent, None)
        };
        let budget = |bps, cut| Budget { bps, cut };
        let rows = [
            // Steady: room for one more top layer's worth above what is sent.
            (
                reading(2_000_000, 2_000_000, 1_600_000, None),
                budget(3_100_000, false),
            ),
            // Steady but the estimate is far above: the estimate.
            (
                reading(9_000_000, 9_000_000, 1_600_000, None),
                budget(9_000_000, false),
            ),
            // Estimate far below what is sent (start-up), not falling: the estimate.
            (
                reading(600_000, 600_000, 1_600_000, None),
                budget(600_000, false),
            ),
            // Falling by over 5 %: 85 % of what is sent.
            (
                reading(1_800_000, 2_000_000, 1_600_000, None),
                budget(1_360_000, false),
            ),
            // An event without a rate: the same.
            (
                reading(2_000_000, 2_000_000, 1_600_000, Some(None)),
                budget(1_360_000, false),
            ),
            // An event showing 350 kbit/s arriving of 1.6 Mbit/s sent: straight there, and cut.
            (
                reading(1_900_000, 2_000_000, 1_600_000, Some(Some(350_000))),
                budget(315_000, true),
            ),
            // Steady after a collapse to 350 kbit/s: no climb past what the link delivered...
            (capped(300_000, 190_000, 350_000), budget(350_000, false)),
            // ...even while GCC's estimate still lags high.
            (capped(2_000_000, 190_000, 350_000), budget(350_000, false)),
            // Arrival close to what is sent (a wobble): about one step down, no cut.
            (
                reading(1_900_000, 2_000_000, 1_600_000, Some(Some(1_500_000))),
                budget(1_350_000, false),
            ),
        ];
        for (i, (reading, expected)) in rows.into_iter().enumerate() {
            assert_eq!(downlink_budget(reading), expected, "row {i}");
        }
    }

    #[test]
    fn down_at_once_up_after_the_hold() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut hold = UpgradeHold::default();
        // (time ms, offered, applied)
        let rows = [
            (0, Some(2), Some(2)),    // first allocation applies at once
            (500, Some(0), Some(0)),  // congestion: down immediately
            (1000, Some(2), Some(0)), // room again, but hold
            (2500, Some(2), Some(0)),
            (4000, Some(2), Some(1)), // held for 3 s: one layer up
            (5000, Some(2), Some(1)), // the next layer needs its own hold
            (7000, Some(2), Some(1)),
            (8000, Some(2), Some(2)),
            (9000, Some(0), Some(0)), // dropped 1 s after climbing: that climb failed
            (9500, Some(2), Some(0)), // so the hold is now 6 s
            (12_600, Some(2), Some(0)),
            (15_500, Some(2), Some(1)),
            (26_000, Some(2), Some(1)), // the climb lasted: the hold is 3 s again
            (29_000, Some(2), Some(2)),
            (29_500, None, None),       // paused by request...
            (30_000, Some(2), Some(2)), // ...and back at once
        ];
        for (i, (ms, offered, applied)) in rows.into_iter().enumerate() {
            // The subscriber wants the top layer throughout (paused rows excepted): every
            // change here is the bandwidth's.
            let wanted = offered.map(|_| 2);
            let offer = Offer {
                rank: offered,
                wanted,
                affordable: offered.min(Some(0)),
            };
            assert_eq!(hold.update(offer, at(ms)), applied, "row {i}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn requests_within_the_estimate_apply_at_once() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut hold = UpgradeHold::default();
        let offer = |rank, wanted, affordable| Offer { rank, wanted, affordable };
        // (time ms, offer, applied)
        let rows = [
            (0,      offer(Some(2), Some(2), Some(2)), Some(2)), // first allocation applies at once
            (500,    offer(Some(0), Some(0), Some(0)), Some(0)), // asked for the smallest: down
            (1000,   offer(Some(2), Some(2), Some(2)), Some(2)), // asked for the top again: at once
            (1500,   offer(Some(0), Some(0), Some(0)), Some(0)), // a request drop is no failed climb...
            (2000,   offer(Some(1), Some(1), Some(1)), Some(1)), // ...so asking again is still at once
            (2500,   offer(Some(2), Some(2), Some(1)), Some(1)), // asked for more than the estimate pays: held
            (5500,   offer(Some(2), Some(2), Some(1)), Some(2)), // the hold elapsed: a probing climb
            (6000,   offer(Some(0), Some(2), Some(0)), Some(0)), // congestion 0.5 s after it: failed climb
            (6500,   offer(Some(0), Some(0), Some(0)), Some(0)), // asks for the smallest...
            (7000,   offer(Some(2), Some(2), Some(2)), Some(0)), // ...then more: the link has not carried more since the drop: held (6 s now)
            (13_100, offer(Some(2), Some(2), Some(2)), Some(1)),
            (13_500, offer(Some(0), Some(0), Some(2)), Some(0)), // asked for less
            (14_000, offer(Some(2), Some(2), Some(2)), Some(1)), // and more again: back at once to what the link carried
        ];
        for (i, (ms, offer, applied)) in rows.into_iter().enumerate() {
            assert_eq!(hold.update(offer, at(ms)), applied, "row {i}");
        }
    }
}
