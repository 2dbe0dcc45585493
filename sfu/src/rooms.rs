//! Room membership and track routing, with no I/O: who is in which room, which tracks they
//! publish, and who should receive each track. The core asks this table; it never stores
//! routing anywhere else.

use crate::ids::{ParticipantSid, TrackSid};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Camera,
    Microphone,
    Screen,
    ScreenAudio,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantMeta {
    pub sid: ParticipantSid,
    pub identity: String,
    pub name: String,
    pub can_publish: bool,
    pub can_subscribe: bool,
    /// Receive-only viewers (WHEP) are not listed to the room or announced.
    pub hidden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackMeta {
    pub sid: TrackSid,
    pub owner: ParticipantSid,
    pub kind: MediaKind,
    pub source: TrackSource,
    /// e.g. `video/VP8`, as negotiated with the publisher.
    pub mime_type: String,
    /// The publisher said it muted the track (the browser sends silence or black).
    pub muted: bool,
}

/// A participant with the tracks they currently publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantSnapshot {
    pub meta: ParticipantMeta,
    pub tracks: Vec<TrackMeta>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("participant is already in a room")]
    AlreadyInRoom,
    #[error("participant is not in a room")]
    NotInRoom,
    #[error("participant may not publish")]
    PublishNotAllowed,
    #[error("no such track of this participant")]
    UnknownTrack,
}

#[derive(Debug, Default)]
struct Room {
    participants: BTreeMap<ParticipantSid, ParticipantMeta>,
    /// Insertion order is kept so snapshots list tracks in publish order.
    tracks: Vec<TrackMeta>,
}

impl Room {
    fn tracks_of<'a>(&'a self, sid: &'a ParticipantSid) -> impl Iterator<Item = &'a TrackMeta> {
        self.tracks.iter().filter(move |t| &t.owner == sid)
    }

    fn snapshot(&self, meta: &ParticipantMeta) -> ParticipantSnapshot {
        ParticipantSnapshot {
            meta: meta.clone(),
            tracks: self.tracks_of(&meta.sid).cloned().collect(),
        }
    }
}

/// What changed when a participant left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub room: String,
    pub removed_tracks: Vec<TrackMeta>,
    /// Everyone still in the room (they must be told).
    pub remaining: Vec<ParticipantSid>,
    /// The last participant left: the room no longer exists.
    pub room_closed: bool,
}

#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<String, Room>,
    room_of: HashMap<ParticipantSid, String>,
}

impl Rooms {
    /// Adds a participant; returns everyone already there, with their tracks.
    pub fn join(
        &mut self,
        room: &str,
        meta: ParticipantMeta,
    ) -> Result<Vec<ParticipantSnapshot>, RoomError> {
        if self.room_of.contains_key(&meta.sid) {
            return Err(RoomError::AlreadyInRoom);
        }
        let entry = self.rooms.entry(room.to_owned()).or_default();
        let others = entry
            .participants
            .values()
            .filter(|p| !p.hidden)
            .map(|p| entry.snapshot(p))
            .collect();
        self.room_of.insert(meta.sid.clone(), room.to_owned());
        entry.participants.insert(meta.sid.clone(), meta);
        Ok(others)
    }

    /// Participants (in any room) with this identity.
    pub fn leave(&mut self, sid: &ParticipantSid) -> Option<Departure> {
        let room_name = self.room_of.remove(sid)?;
        let room = self.rooms.get_mut(&room_name)?;
        room.participants.remove(sid);
        let (removed, kept): (Vec<_>, Vec<_>) =
            room.tracks.drain(..).partition(|t| &t.owner == sid);
        room.tracks = kept;
        let remaining: Vec<_> = room.participants.keys().cloned().collect();
        let room_closed = remaining.is_empty();
        if room_closed {
            self.rooms.remove(&room_name);
        }
        Some(Departure {
            room: room_name,
            removed_tracks: removed,
            remaining,
            room_closed,
        })
    }

    /// Registers a track; returns who should receive it (others in the room who may subscribe).
    pub fn publish(&mut self, track: TrackMeta) -> Result<Vec<ParticipantSid>, RoomError> {
        let room = self.room_mut_of(&track.owner)?;
        if !room
            .participants
            .get(&track.owner)
            .is_some_and(|p| p.can_publish)
        {
            return Err(RoomError::PublishNotAllowed);
        }
        let audience = room
            .participants
            .values()
            .filter(|p| p.sid != track.owner && p.can_subscribe)
            .map(|p| p.sid.clone())
            .collect();
        room.tracks.push(track);
        Ok(audience)
    }

    /// Removes a track; returns it and who was receiving it.
    pub fn unpublish(&mut self, track: &TrackSid) -> Option<(TrackMeta, Vec<ParticipantSid>)> {
        let owner = self.track(track)?.owner.clone();
        let room = self.room_mut_of(&owner).ok()?;
        let index = room.tracks.iter().position(|t| &t.sid == track)?;
        let meta = room.tracks.remove(index);
        let audience = room
            .participants
            .values()
            .filter(|p| p.sid != owner && p.can_subscribe)
            .map(|p| p.sid.clone())
            .collect();
        Some((meta, audience))
    }

    /// Marks the owner's track muted or not; returns the others in the room, who are told.
    pub fn set_muted(
        &mut self,
        owner: &ParticipantSid,
        track: &TrackSid,
        muted: bool,
    ) -> Result<Vec<ParticipantSid>, RoomError> {
        let room = self.room_mut_of(owner)?;
        let meta = room
            .tracks
            .iter_mut()
            .find(|t| &t.sid == track && &t.owner == owner)
            .ok_or(RoomError::UnknownTrack)?;
        meta.muted = muted;
        Ok(room
            .participants
            .keys()
            .filter(|p| *p != owner)
            .cloned()
            .collect())
    }

    pub fn track(&self, track: &TrackSid) -> Option<&TrackMeta> {
        self.rooms
            .values()
            .flat_map(|r| r.tracks.iter())
            .find(|t| &t.sid == track)
    }

    /// Everyone in the participant's room except the participant.
    pub fn others(&self, sid: &ParticipantSid) -> Vec<ParticipantSid> {
        self.room_of(sid)
            .map(|room| {
                room.participants
                    .keys()
                    .filter(|p| *p != sid)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tracks a participant should receive: everyone else's, if they may subscribe.
    pub fn tracks_for(&self, sid: &ParticipantSid) -> Vec<TrackMeta> {
        let Some(room) = self.room_of(sid) else {
            return Vec::new();
        };
        if !room.participants.get(sid).is_some_and(|p| p.can_subscribe) {
            return Vec::new();
        }
        room.tracks
            .iter()
            .filter(|t| &t.owner != sid)
            .cloned()
            .collect()
    }

    /// Everyone in a room, hidden viewers included.
    /// The tracks `sid` publishes, in publish order.
    pub fn tracks_of_owner(&self, sid: &ParticipantSid) -> Vec<TrackMeta> {
        self.room_of
            .get(sid)
            .and_then(|room| self.rooms.get(room))
            .map(|room| room.tracks_of(sid).cloned().collect())
            .unwrap_or_default()
    }

    pub fn members(&self, room: &str) -> Vec<ParticipantSid> {
        self.rooms
            .get(room)
            .map(|r| r.participants.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every room with everyone in it (hidden viewers included: `meta.hidden`), by name.
    pub fn list(&self) -> Vec<(String, Vec<ParticipantSnapshot>)> {
        let mut names: Vec<&String> = self.rooms.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|name| (name.clone(), self.people(name)))
            .collect()
    }

    /// Everyone in one room, hidden viewers included (`meta.hidden`: nobody in the room sees
    /// them, but they count, and operators and moderators see and remove them); empty if it is
    /// not open.
    pub fn people(&self, room: &str) -> Vec<ParticipantSnapshot> {
        self.rooms.get(room).map_or_else(Vec::new, |room| {
            room.participants
                .values()
                .map(|p| room.snapshot(p))
                .collect()
        })
    }

    /// Mutes or unmutes any track (a moderator's server-side mute); returns its owner and
    /// everyone in the room, owner included.
    pub fn force_muted(
        &mut self,
        track: &TrackSid,
        muted: bool,
    ) -> Result<(ParticipantSid, Vec<ParticipantSid>), RoomError> {
        let owner = self
            .track(track)
            .map(|t| t.owner.clone())
            .ok_or(RoomError::UnknownTrack)?;
        let room = self.room_mut_of(&owner)?;
        if let Some(meta) = room.tracks.iter_mut().find(|t| &t.sid == track) {
            meta.muted = muted;
        }
        Ok((owner, room.participants.keys().cloned().collect()))
    }

    pub fn snapshot(&self, sid: &ParticipantSid) -> Option<ParticipantSnapshot> {
        let room = self.room_of(sid)?;
        room.participants.get(sid).map(|p| room.snapshot(p))
    }

    pub fn room_name(&self, sid: &ParticipantSid) -> Option<&str> {
        self.room_of.get(sid).map(String::as_str)
    }

    pub fn participant(&self, sid: &ParticipantSid) -> Option<&ParticipantMeta> {
        self.room_of(sid)?.participants.get(sid)
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn participant_count(&self) -> usize {
        self.room_of.len()
    }

    pub fn track_count(&self) -> usize {
        self.rooms.values().map(|r| r.tracks.len()).sum()
    }

    fn room_of(&self, sid: &ParticipantSid) -> Option<&Room> {
        self.rooms.get(self.room_of.get(sid)?)
    }

    fn room_mut_of(&mut self, sid: &ParticipantSid) -> Result<&mut Room, RoomError> {
        let name = self.room_of.get(sid).ok_or(RoomError::NotInRoom)?;
        self.rooms.get_mut(name).ok_or(RoomError::NotInRoom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(sid: &str, publish: bool, subscribe: bool) -> ParticipantMeta {
        ParticipantMeta {
            sid: sid.into(),
            identity: format!("id-{sid}"),
            name: sid.to_uppercase(),
            can_publish: publish,
            can_subscribe: subscribe,
            hidden: false,
        }
    }

    fn track(sid: &str, owner: &str, kind: MediaKind) -> TrackMeta {
        TrackMeta {
            sid: sid.into(),
            owner: owner.into(),
            kind,
            source: TrackSource::Camera,
            mime_type: "video/VP8".into(),
            muted: false,
        }
    }

    #[test]
    fn join_reports_existing_participants_with_their_tracks() {
        let mut rooms = Rooms::default();
        assert!(rooms.join("r", person("a", true, true)).unwrap().is_empty());
        rooms.publish(track("t1", "a", MediaKind::Video)).unwrap();
        let others = rooms.join("r", person("b", true, true)).unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].meta.sid, "a".into());
        assert_eq!(others[0].tracks, vec![track("t1", "a", MediaKind::Video)]);
        assert_eq!(
            rooms.join("r", person("b", true, true)),
            Err(RoomError::AlreadyInRoom)
        );
    }

    #[test]
    fn publish_routes_to_subscribers_in_the_same_room_only() {
        let mut rooms = Rooms::default();
        rooms.join("r", person("a", true, true)).unwrap();
        rooms.join("r", person("b", true, true)).unwrap();
        rooms.join("r", person("viewer-off", true, false)).unwrap();
        rooms.join("other", person("c", true, true)).unwrap();
        let audience = rooms.publish(track("t1", "a", MediaKind::Audio)).unwrap();
        assert_eq!(audience, vec!["b".into()]);
        assert_eq!(rooms.tracks_for(&"b".into()).len(), 1);
        assert!(rooms.tracks_for(&"a".into()).is_empty(), "no echo");
        assert!(
            rooms.tracks_for(&"c".into()).is_empty(),
            "rooms are isolated"
        );
        assert!(rooms.tracks_for(&"viewer-off".into()).is_empty());
    }

    #[test]
    fn hidden_viewers_receive_but_are_not_listed() {
        let mut rooms = Rooms::default();
        rooms.join("r", person("a", true, true)).unwrap();
        let viewer = ParticipantMeta {
            hidden: true,
            ..person("v", false, true)
        };
        rooms.join("r", viewer).unwrap();
        assert!(rooms
            .join("r", person("b", true, true))
            .unwrap()
            .iter()
            .all(|p| p.meta.sid != "v".into()));
        let audience = rooms.publish(track("t", "a", MediaKind::Video)).unwrap();
        assert!(audience.contains(&"v".into()));
    }

    #[test]
    fn publish_is_refused_without_grant_or_room() {
        let mut rooms = Rooms::default();
        rooms.join("r", person("a", false, true)).unwrap();
        assert_eq!(
            rooms.publish(track("t", "a", MediaKind::Video)),
            Err(RoomError::PublishNotAllowed)
        );
        assert_eq!(
            rooms.publish(track("t", "nobody", MediaKind::Video)),
            Err(RoomError::NotInRoom)
        );
    }

    #[test]
    fn leave_removes_tracks_and_closes_empty_rooms() {
        let mut rooms = Rooms::default();
        rooms.join("r", person("a", true, true)).unwrap();
        rooms.join("r", person("b", true, true)).unwrap();
        rooms.publish(track("ta", "a", MediaKind::Video)).unwrap();
        rooms.publish(track("tb", "b", MediaKind::Video)).unwrap();
        let gone = rooms.leave(&"a".into()).unwrap();
        assert_eq!(
            gone.removed_tracks,
            vec![track("ta", "a", MediaKind::Video)]
        );
        assert_eq!(gone.remaining, vec!["b".into()]);
        assert!(!gone.room_closed);
        assert_eq!(rooms.track_count(), 1);
        let last = rooms.leave(&"b".into()).unwrap();
        assert!(last.room_closed);
        assert_eq!(
            (
                rooms.room_count(),
                rooms.participant_count(),
                rooms.track_count()
            ),
            (0, 0, 0)
        );
        assert!(rooms.leave(&"b".into()).is_none());
    }

    #[test]
    fn only_the_owner_mutes_a_track_and_the_others_are_told() {
        let mut rooms = Rooms::default();
        rooms.join("r", person("a", true, true)).unwrap();
        rooms.join("r", person("b", true, true)).unwrap();
        rooms.publish(track("t1", "a", MediaKind::Video)).unwrap();
        assert_eq!(
            rooms.set_muted(&"a".into(), &"t1".into(), true),
            Ok(vec!["b".into()])
        );
        assert!(rooms.track(&"t1".into()).unwrap().muted);
        assert_eq!(
            rooms.set_muted(&"b".into(), &"t1".into(), false),
            Err(RoomError::UnknownTrack)
        );
        assert_eq!(
            rooms.set_muted(&"a".into(), &"nope".into(), false),
            Err(RoomError::UnknownTrack)
        );
        let snapshot = rooms.snapshot(&"a".into()).unwrap();
        assert!(snapshot.tracks[0].muted, "late joiners see the mute");
    }

    #[test]
    fn unpublish_returns_the_audience() {
        let mut rooms = Rooms::default();
        rooms.join("r", person("a", true, true)).unwrap();
        rooms.join("r", person("b", true, true)).unwrap();
        rooms.publish(track("t", "a", MediaKind::Video)).unwrap();
        let (meta, audience) = rooms.unpublish(&"t".into()).unwrap();
        assert_eq!(meta.sid, "t".into());
        assert_eq!(audience, vec!["b".into()]);
        assert!(rooms.unpublish(&"t".into()).is_none());
        assert_eq!(rooms.snapshot(&"a".into()).unwrap().tracks, vec![]);
    }
}
