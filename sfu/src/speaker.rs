//! Active speaker detection from RFC 6464 audio levels (0 = loudest, 127 = silence, in -dBov),
//! with time as an input. A participant is speaking when enough of their recent packets are
//! above the speech threshold; speakers are ordered by their mean loudness over the window.
//! `tick` reports the ordered list only when it changed, so callers can send it as an event.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct SpeakerConfig {
    /// How far back levels count.
    pub window: Duration,
    /// Levels at or below this (i.e. louder than -N dBov) count as speech.
    pub speech_dbov: u8,
    /// Share of the window's packets that must be speech.
    pub min_speech_share: f32,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(1000),
            speech_dbov: 60,
            min_speech_share: 0.3,
        }
    }
}

#[derive(Debug)]
pub struct SpeakerDetector<K> {
    config: SpeakerConfig,
    levels: HashMap<K, VecDeque<(Instant, u8)>>,
    last_reported: Vec<K>,
}

impl<K: Clone + Eq + Hash + Ord> SpeakerDetector<K> {
    pub fn new(config: SpeakerConfig) -> Self {
        Self {
            config,
            levels: HashMap::new(),
            last_reported: Vec::new(),
        }
    }

    /// One audio packet's level from `key`.
    pub fn observe(&mut self, key: &K, level_dbov: u8, now: Instant) {
        // Look up before inserting: the key is cloned only for a new participant.
        if !self.levels.contains_key(key) {
            self.levels.insert(key.clone(), VecDeque::new());
        }
        let Some(samples) = self.levels.get_mut(key) else {
            return;
        };
        samples.push_back((now, level_dbov.min(127)));
        while samples
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.config.window)
        {
            samples.pop_front();
        }
    }

    /// The loudest speaker of the last report, if anyone was speaking.
    pub fn loudest(&self) -> Option<&K> {
        self.last_reported.first()
    }

    /// Forgets a participant (they left or stopped publishing audio).
    pub fn remove(&mut self, key: &K) {
        self.levels.remove(key);
    }

    /// The current speakers, loudest first, with loudness in 0..=1 — if that changed since the
    /// last report.
    pub fn tick(&mut self, now: Instant) -> Option<Vec<(K, f32)>> {
        let window = self.config.window;
        let mut speakers: Vec<(K, f32)> = self
            .levels
            .iter()
            .filter_map(|(key, samples)| {
                let recent: Vec<u8> = samples
                    .iter()
                    .filter(|(at, _)| now.saturating_duration_since(*at) <= window)
                    .map(|(_, level)| *level)
                    .collect();
                let speech: Vec<u8> = recent
                    .iter()
                    .copied()
                    .filter(|l| *l <= self.config.speech_dbov)
                    .collect();
                if recent.is_empty()
                    || (speech.len() as f32) < self.config.min_speech_share * recent.len() as f32
                {
                    return None;
                }
                let loudness = speech
                    .iter()
                    .map(|l| f32::from(127 - l) / 127.0)
                    .sum::<f32>()
                    / speech.len() as f32;
                Some((key.clone(), loudness))
            })
            .collect();
        speakers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let order: Vec<K> = speakers.iter().map(|(k, _)| k.clone()).collect();
        if order == self.last_reported {
            return None;
        }
        self.last_reported = order;
        Some(speakers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(
        d: &mut SpeakerDetector<&'static str>,
        t0: Instant,
        from_ms: u64,
        to_ms: u64,
        levels: &[(&'static str, u8)],
    ) {
        let mut ms = from_ms;
        while ms < to_ms {
            for (key, level) in levels {
                d.observe(key, *level, t0 + Duration::from_millis(ms));
            }
            ms += 20;
        }
    }

    fn names(report: Option<Vec<(&'static str, f32)>>) -> Option<Vec<&'static str>> {
        report.map(|r| r.into_iter().map(|(k, _)| k).collect())
    }

    #[test]
    fn louder_first_reported_only_on_change_and_swaps() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new(SpeakerConfig::default());
        // (from ms, to ms, levels per participant, expected report at `to`)
        type Row<'a> = (
            u64,
            u64,
            &'a [(&'static str, u8)],
            Option<Vec<&'static str>>,
        );
        let rows: &[Row] = &[
            (
                0,
                1000,
                &[("ana", 20), ("ben", 45), ("cy", 127)],
                Some(vec!["ana", "ben"]),
            ),
            (1000, 1400, &[("ana", 20), ("ben", 45), ("cy", 127)], None),
            // Levels swap: within a window the order follows.
            (
                1400,
                2600,
                &[("ana", 45), ("ben", 20), ("cy", 127)],
                Some(vec!["ben", "ana"]),
            ),
            // Everyone goes quiet.
            (
                2600,
                3800,
                &[("ana", 127), ("ben", 127), ("cy", 127)],
                Some(vec![]),
            ),
        ];
        for (i, (from, to, levels, expected)) in rows.iter().enumerate() {
            feed(&mut d, t0, *from, *to, levels);
            assert_eq!(
                names(d.tick(t0 + Duration::from_millis(*to))),
                *expected,
                "row {i}"
            );
        }
    }

    #[test]
    fn brief_noise_is_not_speech_and_old_samples_expire() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new(SpeakerConfig::default());
        feed(&mut d, t0, 0, 900, &[("ana", 127)]);
        feed(&mut d, t0, 900, 1000, &[("ana", 10)]); // 5 loud packets out of 50
        assert_eq!(names(d.tick(t0 + Duration::from_millis(1000))), None);
        feed(&mut d, t0, 1000, 1500, &[("ana", 10)]);
        assert_eq!(
            names(d.tick(t0 + Duration::from_millis(1500))),
            Some(vec!["ana"])
        );
        // No packets at all for longer than the window: no longer speaking.
        assert_eq!(
            names(d.tick(t0 + Duration::from_millis(3000))),
            Some(vec![])
        );
        d.remove(&"ana");
        assert_eq!(names(d.tick(t0 + Duration::from_millis(3100))), None);
    }
}
