//! "Ana is typing…": ephemeral, never stored. A start lasts [`TYPING_TTL`] unless refreshed
//! (clients refresh every few seconds while typing); refreshes are not re-broadcast, and a
//! lapsed start is broadcast as a stop, so a client that vanished mid-sentence does not leave
//! its indicator on. Time is an input.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const TYPING_TTL: Duration = Duration::from_secs(6);

#[derive(Debug, Default)]
pub struct Typing {
    /// (conversation, identity) → when the start lapses.
    active: HashMap<(String, String), Instant>,
}

impl Typing {
    /// Whether to broadcast a start (false for a refresh).
    pub fn start(&mut self, conversation: &str, identity: &str, now: Instant) -> bool {
        self.active
            .insert(
                (conversation.to_owned(), identity.to_owned()),
                now + TYPING_TTL,
            )
            .is_none_or(|lapse| lapse <= now)
    }

    /// Whether to broadcast a stop (false if it was not typing).
    pub fn stop(&mut self, conversation: &str, identity: &str) -> bool {
        self.active
            .remove(&(conversation.to_owned(), identity.to_owned()))
            .is_some()
    }

    /// Starts that lapsed: broadcast each as a stop.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, String)> {
        let lapsed: Vec<(String, String)> = self
            .active
            .iter()
            .filter(|(_, lapse)| **lapse <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &lapsed {
            self.active.remove(key);
        }
        lapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_refreshes_stops_and_lapses() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut t = Typing::default();
        assert!(t.start("c", "ana", at(0)));
        assert!(!t.start("c", "ana", at(3)), "a refresh is not news");
        assert!(t.start("d", "ana", at(4)), "another conversation is");
        assert!(
            t.expire(at(8)).iter().all(|(c, _)| c != "c"),
            "refreshed at 3 s"
        );
        assert_eq!(t.expire(at(9)), vec![("c".to_owned(), "ana".to_owned())]);
        assert!(!t.stop("c", "ana"), "already lapsed");
        assert!(t.start("c", "ana", at(10)));
        assert!(t.stop("c", "ana"));
        assert_eq!(t.expire(at(100)), vec![("d".to_owned(), "ana".to_owned())]);
        assert!(t.expire(at(200)).is_empty());
    }
}
