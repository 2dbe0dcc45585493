//! Who is in the node's rooms: joins, leaves, removals and closing everything; each tells the
//! others in the room and frees what the participant held.

use super::*;

impl SfuCore {
    /// Adds a participant to a room; returns who is already there (`input::Join`).
    pub(super) fn join(
        &mut self,
        now: Instant,
        room: &str,
        meta: ParticipantMeta,
    ) -> Result<Vec<ParticipantSnapshot>, SfuError> {
        self.check_capacity(room)?;
        let sid = meta.sid.clone();
        let identity = meta.identity.clone();
        self.start_session(&identity)?;
        let others = match self.rooms.join(room, meta) {
            Ok(others) => others,
            Err(err) => {
                self.node.session_ended(&identity);
                return Err(err.into());
            }
        };
        self.participants
            .insert(sid.clone(), ParticipantPeers::default());
        if let Some(snapshot) = self.rooms.snapshot(&sid) {
            for other in &others {
                self.emit(
                    &other.meta.sid,
                    SfuEvent::ParticipantJoined(snapshot.clone()),
                );
            }
        }
        self.relay_joined(&sid);
        for track in self.rooms.tracks_for(&sid) {
            self.add_down_track(now, &sid, &track);
        }
        Ok(others)
    }

    /// Removes a participant: closes their connections, ends their tracks, tells the others
    /// (`input::Leave`).
    pub(super) fn leave(&mut self, now: Instant, sid: &ParticipantSid) {
        let Some(peers) = self.participants.remove(sid) else {
            return;
        };
        self.departures.push_back(sid.clone());
        let (hidden, identity) = match self.rooms.participant(sid) {
            Some(meta) => (meta.hidden, Some(meta.identity.clone())),
            None => (false, None),
        };
        if let Some(identity) = identity {
            self.node.session_ended(&identity);
        }
        for id in [peers.publisher, peers.screen, peers.subscriber]
            .into_iter()
            .flatten()
        {
            self.close_peer(now, id);
        }
        if let Some(departure) = self.rooms.leave(sid) {
            let room = departure.room.clone();
            self.announce_departure(now, sid, hidden, departure);
            self.relay_left(now, &room, sid);
        }
    }

    /// What a participant leaving ends: its tracks (for everyone still in the room), its place
    /// in speaker detection; the others are told it left.
    pub(super) fn announce_departure(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        hidden: bool,
        departure: crate::rooms::Departure,
    ) {
        for track in &departure.removed_tracks {
            self.end_up_track(now, &track.sid, &departure.remaining, sid);
        }
        for other in &departure.remaining {
            let event = if hidden {
                SfuEvent::ViewerLeft(sid.clone())
            } else {
                SfuEvent::ParticipantLeft(sid.clone())
            };
            self.emit(other, event);
        }
        if departure.room_closed {
            self.speakers.remove(&departure.room);
        } else if let Some(detector) = self.speakers.get_mut(&departure.room) {
            detector.remove(sid);
        }
        tracing::info!(
            participant = %sid,
            room_closed = departure.room_closed,
            "participant left"
        );
    }

    /// Removes a participant (a moderator's decision, or the room ended): its session is told
    /// why, then it leaves like any leaver (`input::Remove`).
    pub(super) fn remove(&mut self, now: Instant, sid: &ParticipantSid, reason: &str) {
        self.emit(
            sid,
            SfuEvent::Removed {
                reason: reason.to_owned(),
            },
        );
        self.leave(now, sid);
    }

    /// Closes every connection (shutdown); the close alerts are in `poll_transmit`
    /// (`input::CloseAll`).
    pub(super) fn close_all(&mut self, now: Instant) {
        let sids: Vec<_> = self.participants.keys().cloned().collect();
        for sid in sids {
            self.leave(now, &sid);
        }
    }
}
