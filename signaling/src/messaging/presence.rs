//! Presence aggregated over a person's devices, with time as an input: online while any device
//! is connected and not away, away while all connected devices are away, offline with a last
//! seen time once the last one disconnects. Only changes are reported, so a second tab opening
//! or closing tells nobody anything.

use crate::fanout::DeviceId;
use crate::protocol::chat::{PresenceInfo, PresenceStatus};
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Presence {
    people: HashMap<String, Person>,
}

#[derive(Debug, Default)]
struct Person {
    /// Connected devices and whether each is away.
    devices: HashMap<DeviceId, bool>,
    last_seen_ms: i64,
}

impl Person {
    fn status(&self) -> PresenceStatus {
        if self.devices.is_empty() {
            PresenceStatus::Offline
        } else if self.devices.values().all(|away| *away) {
            PresenceStatus::Away
        } else {
            PresenceStatus::Online
        }
    }
}

impl Presence {
    pub fn connect(
        &mut self,
        identity: &str,
        device: DeviceId,
        now_ms: i64,
    ) -> Option<PresenceInfo> {
        self.update(identity, now_ms, |p| {
            p.devices.insert(device, false);
        })
    }

    pub fn disconnect(
        &mut self,
        identity: &str,
        device: DeviceId,
        now_ms: i64,
    ) -> Option<PresenceInfo> {
        let change = self.update(identity, now_ms, |p| {
            p.devices.remove(&device);
        });
        // Offline people are remembered by the store (last seen), not here.
        if self
            .people
            .get(identity)
            .is_some_and(|p| p.devices.is_empty())
        {
            self.people.remove(identity);
        }
        change
    }

    pub fn set_away(
        &mut self,
        identity: &str,
        device: DeviceId,
        away: bool,
        now_ms: i64,
    ) -> Option<PresenceInfo> {
        if !self
            .people
            .get(identity)
            .is_some_and(|p| p.devices.contains_key(&device))
        {
            return None;
        }
        self.update(identity, now_ms, |p| {
            p.devices.insert(device, away);
        })
    }

    /// Presence of someone with a device connected here; `None`: offline as far as this node
    /// knows (the store has their last seen time).
    pub fn get(&self, identity: &str) -> Option<PresenceInfo> {
        self.people.get(identity).map(|p| PresenceInfo {
            identity: identity.to_owned(),
            status: p.status(),
            last_seen_at: Some(p.last_seen_ms),
        })
    }

    /// Everyone with a device connected here.
    pub fn everyone(&self) -> Vec<PresenceInfo> {
        self.people.keys().filter_map(|i| self.get(i)).collect()
    }

    fn update(
        &mut self,
        identity: &str,
        now_ms: i64,
        change: impl FnOnce(&mut Person),
    ) -> Option<PresenceInfo> {
        let person = self.people.entry(identity.to_owned()).or_default();
        let before = person.status();
        change(person);
        person.last_seen_ms = now_ms;
        let after = person.status();
        (before != after).then(|| PresenceInfo {
            identity: identity.to_owned(),
            status: after,
            last_seen_at: Some(now_ms),
        })
    }
}

/// Presence as the other nodes of a cluster see it (`cluster`): each node's view of the people
/// with devices on it, kept while the node is heard from (its heartbeats), with time as an
/// input.
#[derive(Debug)]
pub struct RemotePresence {
    me: String,
    nodes: HashMap<String, NodeView>,
}

#[derive(Debug)]
struct NodeView {
    last_heard: std::time::Instant,
    people: HashMap<String, PresenceInfo>,
    /// People in a call room on that node ("busy" for call invitations).
    in_call: std::collections::HashSet<String>,
}

fn rank(status: PresenceStatus) -> u8 {
    match status {
        PresenceStatus::Online => 2,
        PresenceStatus::Away => 1,
        PresenceStatus::Offline => 0,
    }
}

/// Nodes forgotten by [`RemotePresence::expire`], and the people who had devices on them.
#[derive(Debug, Default, PartialEq)]
pub struct Expired {
    pub nodes: Vec<String>,
    pub people: Vec<String>,
}

/// Someone's presence over two views: the more present status; `None` for offline.
pub fn combine(a: Option<PresenceInfo>, b: Option<PresenceInfo>) -> Option<PresenceInfo> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if rank(b.status) > rank(a.status) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

impl RemotePresence {
    /// `me`: this node's id (its own messages are not kept).
    pub fn new(me: &str) -> Self {
        Self {
            me: me.to_owned(),
            nodes: HashMap::new(),
        }
    }

    /// Node `node` was heard from; true if it was not known (it just started, or came back).
    pub fn heard(&mut self, node: &str, now: std::time::Instant) -> bool {
        if node == self.me {
            return false;
        }
        match self.nodes.get_mut(node) {
            Some(view) => {
                view.last_heard = now;
                false
            }
            None => {
                self.nodes.insert(
                    node.to_owned(),
                    NodeView {
                        last_heard: now,
                        people: HashMap::new(),
                        in_call: Default::default(),
                    },
                );
                true
            }
        }
    }

    /// What `node` says of people with devices on it; `full`: that is everyone it has.
    pub fn update(
        &mut self,
        node: &str,
        people: Vec<PresenceInfo>,
        full: bool,
        now: std::time::Instant,
    ) {
        if node == self.me {
            return;
        }
        self.heard(node, now);
        let Some(view) = self.nodes.get_mut(node) else {
            return;
        };
        if full {
            view.people.clear();
        }
        for info in people {
            if info.status == PresenceStatus::Offline {
                view.people.remove(&info.identity);
            } else {
                view.people.insert(info.identity.clone(), info);
            }
        }
    }

    /// Who is in a call on `node` (`full`: everyone there; else changes, `in_call` each).
    pub fn update_in_call(
        &mut self,
        node: &str,
        people: Vec<(String, bool)>,
        full: bool,
        now: std::time::Instant,
    ) {
        if node == self.me {
            return;
        }
        self.heard(node, now);
        let Some(view) = self.nodes.get_mut(node) else {
            return;
        };
        if full {
            view.in_call.clear();
        }
        for (identity, in_call) in people {
            if in_call {
                view.in_call.insert(identity);
            } else {
                view.in_call.remove(&identity);
            }
        }
    }

    /// Whether `identity` is in a call on another live node.
    pub fn in_call(&self, identity: &str) -> bool {
        self.nodes.values().any(|v| v.in_call.contains(identity))
    }

    /// Forgets nodes not heard from for `after`; returns them and who had devices on them.
    /// This node cannot hear anyone now (its NATS connection is down): silence proves nothing,
    /// so every node counts as heard at `now` and gets a full window once NATS is back.
    pub fn hold(&mut self, now: std::time::Instant) {
        for view in self.nodes.values_mut() {
            view.last_heard = now;
        }
    }

    pub fn expire(&mut self, now: std::time::Instant, after: std::time::Duration) -> Expired {
        let mut gone = Expired::default();
        self.nodes.retain(|node, view| {
            let alive = now.saturating_duration_since(view.last_heard) < after;
            if !alive {
                gone.nodes.push(node.clone());
                gone.people.extend(view.people.keys().cloned());
            }
            alive
        });
        gone
    }

    /// Someone's presence over the other nodes; `None`: offline there.
    pub fn get(&self, identity: &str) -> Option<PresenceInfo> {
        self.nodes
            .values()
            .filter_map(|v| v.people.get(identity).cloned())
            .fold(None, |best, info| combine(best, Some(info)))
    }

    /// Nodes alive as far as this one knows, itself included.
    pub fn alive(&self) -> usize {
        self.nodes.len() + 1
    }

    /// Whether this node has the lowest id of those alive (it speaks for the cluster when a
    /// node goes silent, so contacts hear of it once).
    pub fn is_lowest(&self) -> bool {
        self.nodes.keys().all(|n| self.me < *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PresenceStatus::*;

    #[test]
    fn aggregated_over_devices_and_reported_only_on_change() {
        let mut p = Presence::default();
        let (tab1, tab2) = (DeviceId(1), DeviceId(2));
        // (step, expected change)
        type Step = Box<dyn Fn(&mut Presence) -> Option<PresenceInfo>>;
        let rows: Vec<(Step, Option<PresenceStatus>)> = vec![
            (Box::new(move |p| p.connect("ana", tab1, 10)), Some(Online)),
            (Box::new(move |p| p.connect("ana", tab2, 20)), None),
            (Box::new(move |p| p.set_away("ana", tab1, true, 30)), None),
            (
                Box::new(move |p| p.set_away("ana", tab2, true, 40)),
                Some(Away),
            ),
            (
                Box::new(move |p| p.set_away("ana", tab2, false, 50)),
                Some(Online),
            ),
            (Box::new(move |p| p.disconnect("ana", tab2, 60)), Some(Away)),
            (
                Box::new(move |p| p.disconnect("ana", tab1, 70)),
                Some(Offline),
            ),
            // Unknown devices change nothing.
            (Box::new(move |p| p.set_away("ana", tab1, true, 80)), None),
        ];
        for (i, (step, expected)) in rows.iter().enumerate() {
            assert_eq!(step(&mut p).map(|c| c.status), *expected, "row {i}");
        }
        assert_eq!(p.get("ana"), None, "offline is the store's business");
    }

    #[test]
    fn last_seen_is_the_last_change() {
        let mut p = Presence::default();
        p.connect("ben", DeviceId(1), 100);
        let gone = p.disconnect("ben", DeviceId(1), 900).unwrap();
        assert_eq!(gone.status, Offline);
        assert_eq!(gone.last_seen_at, Some(900));
    }

    fn seen(identity: &str, status: PresenceStatus) -> PresenceInfo {
        PresenceInfo {
            identity: identity.into(),
            status,
            last_seen_at: Some(1),
        }
    }

    #[test]
    fn other_nodes_views_combine_and_expire_with_their_heartbeats() {
        let t0 = std::time::Instant::now();
        let at = |s: u64| t0 + std::time::Duration::from_secs(s);
        let mut r = RemotePresence::new("b");
        assert!(r.heard("a", at(0)), "a new node");
        assert!(!r.heard("a", at(1)));
        assert!(!r.heard("b", at(1)), "itself is never a remote node");
        r.update("a", vec![seen("ana", Away)], false, at(1));
        r.update(
            "c",
            vec![seen("ana", Online), seen("ben", Online)],
            true,
            at(1),
        );
        #[rustfmt::skip]
        let rows = [
            ("ana", Some(Online)), // online on c beats away on a
            ("ben", Some(Online)),
            ("cy",  None),
        ];
        for (who, want) in rows {
            assert_eq!(r.get(who).map(|i| i.status), want, "{who}");
        }
        r.update("c", vec![seen("ben", Online)], true, at(2)); // c's full view: ana gone there
        assert_eq!(r.get("ana").map(|i| i.status), Some(Away));
        r.update("a", vec![seen("ana", Offline)], false, at(2));
        assert_eq!(r.get("ana"), None);
        r.update_in_call(
            "c",
            vec![("ben".into(), true), ("cy".into(), true)],
            false,
            at(2),
        );
        r.update_in_call("c", vec![("cy".into(), false)], false, at(2));
        assert!(r.in_call("ben") && !r.in_call("cy"));
        assert_eq!((r.alive(), r.is_lowest()), (3, false));
        r.heard("a", at(7));
        let gone = r.expire(at(8), std::time::Duration::from_secs(6));
        let want = Expired {
            nodes: vec!["c".into()],
            people: vec!["ben".into()],
        };
        assert_eq!(gone, want, "c went silent at 2");
        assert_eq!(r.get("ben"), None);
        assert!(!r.in_call("ben"), "a silent node's calls no longer count");
        assert_eq!(r.alive(), 2);
        // This node's own NATS connection down from 9 to 19: nobody is declared gone for it.
        r.hold(at(19));
        assert_eq!(
            r.expire(at(20), std::time::Duration::from_secs(6)),
            Expired::default()
        );
        assert_eq!(r.alive(), 2);
        r.expire(at(26), std::time::Duration::from_secs(6));
        assert!(r.is_lowest(), "alone");
        assert_eq!(
            combine(Some(seen("x", Away)), Some(seen("x", Online))).map(|i| i.status),
            Some(Online)
        );
    }
}
