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
}
