//! Rooms as apps see them: created through the API (with a participant cap, audio-only, and
//! how long an empty room lingers) or on first join when the server allows it; closed once the
//! last person left and the grace period passed (or when an app ends it). Who is in a room
//! lives in the media plane; this is the configuration and the lifecycle around it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long an empty room stays open for someone to come back, unless configured.
pub const DEFAULT_EMPTY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomConfig {
    pub name: String,
    pub max_participants: Option<u32>,
    pub audio_only: bool,
    pub empty_timeout: Duration,
    pub created_at_ms: i64,
    /// Created by an app through the API (rather than on first join).
    pub explicit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("no such room, and rooms are not created on join here")]
    NotFound,
    #[error("removed from this room: rejoining is refused for another {retry_after_secs} s")]
    Banned { retry_after_secs: u64 },
    #[error("this room was created by its app: guest tokens cannot join it")]
    GuestsNotAllowed,
    /// One of several nodes: another node holds the room.
    #[error("the room is held by another node of the cluster")]
    Elsewhere,
    /// One of several nodes: the shared store cannot say who holds the room.
    #[error("cannot tell which node holds the room now (the store is unreachable); try again")]
    Unplaced,
    /// This node is stopping: rooms open here may finish, no new one opens.
    #[error("this node is stopping and opens no new room; try again")]
    Draining,
}

#[derive(Debug, Default)]
pub struct RoomRegistry {
    rooms: Mutex<HashMap<String, RoomEntry>>,
    /// (room, identity) → until when (Unix ms) a removed person may not come back. Outlives
    /// the room's entry: a room that closes and reopens keeps its bans.
    bans: Mutex<HashMap<(String, String), i64>>,
}

#[derive(Debug)]
struct RoomEntry {
    config: RoomConfig,
    /// Bumped on every join and leave; a close scheduled at one value is void at another.
    epoch: u64,
}

/// Whether a join opened the room (for `room_started`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub config: RoomConfig,
    pub started: bool,
}

impl RoomRegistry {
    /// Creates a room (`false` if it exists: its configuration is left alone).
    pub fn create(&self, config: RoomConfig) -> bool {
        let Ok(mut rooms) = self.rooms.lock() else {
            return false;
        };
        if rooms.contains_key(&config.name) {
            return false;
        }
        rooms.insert(config.name.clone(), RoomEntry { config, epoch: 0 });
        true
    }

    pub fn get(&self, name: &str) -> Option<RoomConfig> {
        self.rooms
            .lock()
            .ok()
            .and_then(|r| r.get(name).map(|e| e.config.clone()))
    }

    pub fn list(&self) -> Vec<RoomConfig> {
        let mut list: Vec<RoomConfig> = self
            .rooms
            .lock()
            .map(|r| r.values().map(|e| e.config.clone()).collect())
            .unwrap_or_default();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    pub fn remove(&self, name: &str) -> Option<RoomConfig> {
        self.rooms
            .lock()
            .ok()
            .and_then(|mut r| r.remove(name).map(|e| e.config))
    }

    /// Removal is revocation: `identity` may not enter `room` again until `until_ms`.
    pub fn ban(&self, room: &str, identity: &str, until_ms: i64, now_ms: i64) {
        if let Ok(mut bans) = self.bans.lock() {
            bans.retain(|_, until| *until > now_ms);
            bans.insert((room.to_owned(), identity.to_owned()), until_ms);
        }
    }

    fn banned(&self, room: &str, identity: &str, now_ms: i64) -> Option<AdmitError> {
        let bans = self.bans.lock().ok()?;
        let until = *bans.get(&(room.to_owned(), identity.to_owned()))?;
        (until > now_ms).then(|| AdmitError::Banned {
            retry_after_secs: ((until - now_ms) as u64).div_ceil(1000),
        })
    }

    /// A join (WebSocket, WHIP or WHEP): may `identity` (a `guest` or not) enter? Opens the
    /// room if `auto_create` allows and it is not open. The participant cap
    /// (`config.max_participants`) is not checked here but by the media plane, in the same step
    /// as the join (`sfu::input::Join`): counted here, two joins could both take the last place.
    pub fn admit(
        &self,
        name: &str,
        (identity, guest): (&str, bool),
        auto_create: bool,
        now_ms: i64,
    ) -> Result<Admitted, AdmitError> {
        if let Some(refusal) = self.banned(name, identity, now_ms) {
            return Err(refusal);
        }
        let mut rooms = self.rooms.lock().map_err(|_| AdmitError::NotFound)?;
        let started = !rooms.contains_key(name);
        if started {
            if !auto_create {
                return Err(AdmitError::NotFound);
            }
            rooms.insert(
                name.to_owned(),
                RoomEntry {
                    config: RoomConfig {
                        name: name.to_owned(),
                        max_participants: None,
                        audio_only: false,
                        empty_timeout: DEFAULT_EMPTY_TIMEOUT,
                        created_at_ms: now_ms,
                        explicit: false,
                    },
                    epoch: 0,
                },
            );
        }
        let entry = rooms.get_mut(name).ok_or(AdmitError::NotFound)?;
        if guest && entry.config.explicit {
            return Err(AdmitError::GuestsNotAllowed);
        }
        entry.epoch += 1;
        Ok(Admitted {
            config: entry.config.clone(),
            started,
        })
    }

    /// Someone left and `remaining` are still in: if nobody is, returns when to check again
    /// and the epoch the close is valid for.
    pub fn left(&self, name: &str, remaining: usize) -> Option<(Duration, u64)> {
        let mut rooms = self.rooms.lock().ok()?;
        let entry = rooms.get_mut(name)?;
        entry.epoch += 1;
        (remaining == 0).then_some((entry.config.empty_timeout, entry.epoch))
    }

    /// The grace period passed: closes the room if nothing happened since (same epoch).
    pub fn close_if_idle(&self, name: &str, epoch: u64) -> Option<RoomConfig> {
        let mut rooms = self.rooms.lock().ok()?;
        if rooms.get(name).is_some_and(|e| e.epoch == epoch) {
            return rooms.remove(name).map(|e| e.config);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(name: &str, max: u32) -> RoomConfig {
        RoomConfig {
            name: name.into(),
            max_participants: Some(max),
            audio_only: false,
            empty_timeout: Duration::from_secs(5),
            created_at_ms: 0,
            explicit: true,
        }
    }

    #[test]
    fn admission_table() {
        let rooms = RoomRegistry::default();
        assert!(rooms.create(capped("clinic", 2)));
        assert!(
            !rooms.create(capped("clinic", 9)),
            "existing rooms keep their config"
        );
        // Removed from the clinic at t = 0 for 60 s.
        rooms.ban("clinic", "mallory", 60_000, 0);
        let banned = |secs| {
            Err(AdmitError::Banned {
                retry_after_secs: secs,
            })
        };
        // (room, identity, guest, auto_create, now ms, expected); the clinic was created
        // through the API. Its cap is the media plane's to check (sfu/tests/door.rs).
        type Row<'a> = (&'a str, &'a str, bool, bool, i64, Result<bool, AdmitError>);
        #[rustfmt::skip]
        let rows: &[Row] = &[
            ("clinic",  "ana",     false, false, 0,      Ok(false)),
            ("clinic",  "gus",     true,  true,  0,      Err(AdmitError::GuestsNotAllowed)),
            ("nowhere", "ana",     false, false, 0,      Err(AdmitError::NotFound)),
            ("hallway", "ana",     false, true,  0,      Ok(true)),
            ("hallway", "ana",     false, true,  0,      Ok(false)),
            ("hallway", "gus",     true,  true,  0,      Ok(false)), // opened on a join: guests welcome
            ("clinic",  "mallory", false, false, 0,      banned(60)),
            ("clinic",  "mallory", false, false, 59_001, banned(1)),
            ("hallway", "mallory", false, true,  1_000,  Ok(false)), // a ban is for one room
            ("clinic",  "mallory", false, false, 60_000, Ok(false)), // and for its period
        ];
        for (i, (room, identity, guest, auto, now, expected)) in rows.iter().enumerate() {
            let got = rooms
                .admit(room, (identity, *guest), *auto, *now)
                .map(|a| a.started);
            assert_eq!(got, *expected, "row {i}");
        }
        assert_eq!(rooms.get("clinic").unwrap().max_participants, Some(2));
    }

    #[test]
    fn an_empty_room_closes_after_its_grace_unless_someone_comes_back() {
        let rooms = RoomRegistry::default();
        rooms.admit("r", ("ana", false), true, 0).unwrap();
        assert_eq!(rooms.left("r", 1), None, "someone is still in");
        let (grace, epoch) = rooms.left("r", 0).unwrap();
        assert_eq!(grace, DEFAULT_EMPTY_TIMEOUT);
        rooms.admit("r", ("ana", false), true, 0).unwrap();
        assert_eq!(rooms.close_if_idle("r", epoch), None, "someone came back");
        let (_, epoch) = rooms.left("r", 0).unwrap();
        assert_eq!(
            rooms.close_if_idle("r", epoch).map(|c| c.name),
            Some("r".into())
        );
        assert_eq!(rooms.get("r"), None);
    }
}
