//! The one door into the media core, in the spirit of str0m's `handle_input`/`poll_output`.
//! Every input (a datagram, the clock, each request from signaling) is a small struct here,
//! defined once, implementing [`Input`]; [`SfuCore::handle`] applies it and then drains what it
//! set in motion (`finish`) exactly once. What comes out stays the polls: `poll_transmit`,
//! `poll_event`, `poll_timeout`.
//!
//! A new request is one struct and its `apply` here: the driver takes any input
//! (`SfuHandle::request`), so nothing else changes. Public as `sfu::input`.

use super::relay::Relayed;
use super::{Candidate, SfuCore};
use crate::error::SfuError;
use crate::flow::Flow;
use crate::ids::{ParticipantSid, PeerRole, TrackSid};
use crate::layers::LayerLimit;
use crate::node::WorkerIndex;
use crate::rooms::{ParticipantMeta, ParticipantSnapshot, TrackSource};
use bytes::BytesMut;
use std::time::Instant;

/// Something the core reacts to. Applied only through [`SfuCore::handle`].
pub trait Input {
    /// What the input yields when it succeeds.
    type Output;

    /// Applies the input without draining the connections it touched: `handle` does that
    /// once afterwards. Only the core can make a [`Door`], so an input cannot be applied
    /// outside `handle` (one input may apply others with the door it was given).
    fn apply(self, core: &mut SfuCore, now: Instant, door: Door) -> Result<Self::Output, SfuError>;
}

/// Proof that an input is being applied by [`SfuCore::handle`]; nothing outside the core can
/// make one.
#[derive(Debug)]
pub struct Door(());

/// Where a request goes on a node with several media workers (`SfuHandle::request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A join: to the worker of `room`, which is placed first if nobody is in it.
    Join {
        room: &'a str,
        sid: &'a ParticipantSid,
        /// The room's cap, checked by placement over all the workers holding the room.
        max_participants: Option<u32>,
    },
    /// To the participant's worker (any if it is not in a room: it finds nobody).
    Participant(&'a ParticipantSid),
    /// To every worker; the outputs are gathered ([`Request::gather`]).
    Everywhere,
}

/// An input signaling sends (every input but datagrams and the clock), with where it goes.
pub trait Request: Input + Clone {
    fn route(&self) -> Route<'_>;

    /// Two workers' outputs of an [`Route::Everywhere`] request as one (by default the first).
    fn gather(first: Self::Output, _other: Self::Output) -> Self::Output {
        first
    }
}

/// An input that adds a participant: it names them, so the driver can route their events
/// (`SfuHandle::join_with_events`).
pub trait Joining: Input {
    fn participant(&self) -> &ParticipantSid;
}

impl SfuCore {
    /// The only way in: applies `input` at `now`, then drains every connection it touched
    /// and sends pending offers and keyframe requests (once, whether it succeeded or not).
    pub fn handle<I: Input>(&mut self, now: Instant, input: I) -> Result<I::Output, SfuError> {
        let output = input.apply(self, now, Door(()));
        self.finish(now);
        output
    }
}

/// A datagram from the shared UDP port, or a frame from an ICE-TCP connection, over `flow`
/// (its `local` is the advertised address it arrived on). Never fails: one nobody can take is
/// dropped and counted.
#[derive(Debug)]
pub struct Datagram {
    pub flow: Flow,
    pub data: BytesMut,
}

impl Input for Datagram {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        core.datagram(now, self.flow, self.data);
        Ok(())
    }
}

/// The clock reached `now`: every timer due fires (peer connections, speaker reports,
/// bandwidth allocation). `SfuCore::poll_timeout` says when the next one is. Never fails.
#[derive(Debug, Clone, Copy)]
pub struct Timeout;

impl Input for Timeout {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        core.timeout(now);
        Ok(())
    }
}

/// The room is opening on this worker while `others` hold it too (placement spread it,
/// `node::Placement`): the core introduces itself to them, and they tell it who and what is
/// there (`core/relay.rs`). Applied by the driver just before the join that opens it. Never
/// fails.
#[derive(Debug, Clone)]
pub struct OpenShard {
    pub room: String,
    pub others: Vec<WorkerIndex>,
}

impl Input for OpenShard {
    type Output = ();
    fn apply(self, core: &mut SfuCore, _: Instant, _: Door) -> Result<(), SfuError> {
        core.open_shard(&self.room, &self.others);
        Ok(())
    }
}

/// Messages from worker `from`'s shards of rooms this worker holds too, in the order it sent
/// them (`SfuCore::poll_relay` there). Never fails.
#[derive(Debug)]
pub struct Relay {
    pub from: WorkerIndex,
    pub messages: Vec<Relayed>,
}

impl Input for Relay {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        for message in self.messages {
            core.on_relayed(now, self.from, message);
        }
        Ok(())
    }
}

/// Adds a participant to a room; yields who is already there. Refused with
/// [`SfuError::RoomFull`] when the room already holds `max_participants` people (hidden
/// viewers count): checked in the same call as the join, so two joins cannot both take the
/// last place.
#[derive(Debug, Clone)]
pub struct Join {
    pub room: String,
    pub meta: ParticipantMeta,
    pub max_participants: Option<u32>,
}

impl Request for Join {
    fn route(&self) -> Route<'_> {
        Route::Join {
            room: &self.room,
            sid: &self.meta.sid,
            max_participants: self.max_participants,
        }
    }
}

impl Input for Join {
    type Output = Vec<ParticipantSnapshot>;
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<Self::Output, SfuError> {
        core.check_room_cap(&self.room, self.max_participants)?;
        core.join(now, &self.room, self.meta)
    }
}

impl Joining for Join {
    fn participant(&self) -> &ParticipantSid {
        &self.meta.sid
    }
}

/// Adds a hidden receive-only viewer to `room` from its offer (WHEP); yields the answer.
/// `follow` names the identity whose media it gets (else the room's first publisher). A
/// viewer counts toward `max_participants` and is refused past it like a [`Join`].
#[derive(Debug, Clone)]
pub struct JoinViewer {
    pub room: String,
    pub meta: ParticipantMeta,
    pub offer: String,
    pub follow: Option<String>,
    pub max_participants: Option<u32>,
}

impl Request for JoinViewer {
    fn route(&self) -> Route<'_> {
        Route::Join {
            room: &self.room,
            sid: &self.meta.sid,
            max_participants: self.max_participants,
        }
    }
}

impl Input for JoinViewer {
    type Output = String;
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<String, SfuError> {
        core.check_room_cap(&self.room, self.max_participants)?;
        core.join_viewer(now, &self.room, self.meta, self.offer, self.follow)
    }
}

impl Joining for JoinViewer {
    fn participant(&self) -> &ParticipantSid {
        &self.meta.sid
    }
}

/// Applies a publisher offer (first or renegotiation) and yields the answer SDP, on the
/// camera/microphone connection (`PeerRole::Publisher`) or the screen-share one
/// (`PeerRole::Screen`). `sources` says what each track (by msid track id) is.
#[derive(Debug, Clone)]
pub struct Publish {
    pub sid: ParticipantSid,
    pub role: PeerRole,
    pub offer: String,
    pub sources: Vec<(String, TrackSource)>,
}

impl Request for Publish {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for Publish {
    type Output = String;
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<String, SfuError> {
        core.publish_on(now, &self.sid, self.role, self.offer, self.sources)
    }
}

/// Applies the client's answer to the outstanding subscriber offer.
#[derive(Debug, Clone)]
pub struct SubscriberAnswer {
    pub sid: ParticipantSid,
    pub answer: String,
}

impl Request for SubscriberAnswer {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for SubscriberAnswer {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        core.subscriber_answer(now, &self.sid, self.answer)
    }
}

/// Restarts ICE on the participant's subscriber connection: its next `SubscriberOffer` has new
/// ICE credentials (the client's network changed). Publishing connections restart from the
/// client's side: a `Publish` whose offer has new credentials.
#[derive(Debug, Clone)]
pub struct RestartSubscriberIce {
    pub sid: ParticipantSid,
}

impl Request for RestartSubscriberIce {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for RestartSubscriberIce {
    type Output = ();
    fn apply(self, core: &mut SfuCore, _: Instant, _: Door) -> Result<(), SfuError> {
        core.restart_subscriber_ice(&self.sid)
    }
}

/// Trickled client candidate for one of the participant's connections.
#[derive(Debug, Clone)]
pub struct AddIceCandidate {
    pub sid: ParticipantSid,
    pub role: PeerRole,
    pub candidate: Candidate,
}

impl Request for AddIceCandidate {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for AddIceCandidate {
    type Output = ();
    fn apply(self, core: &mut SfuCore, _: Instant, _: Door) -> Result<(), SfuError> {
        core.add_ice_candidate(&self.sid, self.role, self.candidate)
    }
}

/// What a subscriber wants of one track: paused, a layer cap, or its rendered size.
#[derive(Debug, Clone)]
pub struct SetLayerLimit {
    pub sid: ParticipantSid,
    pub track: TrackSid,
    pub limit: LayerLimit,
}

impl Request for SetLayerLimit {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for SetLayerLimit {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        // Still drains by itself (`selection.rs`); the second drain in `handle` finds
        // nothing left to do.
        core.set_layer_limit(now, &self.sid, &self.track, self.limit)
    }
}

/// The owner muted or unmuted a track: the room is told. Media keeps flowing (a muted
/// browser track sends silence or black frames), so nothing changes on the media path.
#[derive(Debug, Clone)]
pub struct SetTrackMuted {
    pub sid: ParticipantSid,
    pub track: TrackSid,
    pub muted: bool,
}

impl Request for SetTrackMuted {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for SetTrackMuted {
    type Output = ();
    fn apply(self, core: &mut SfuCore, _: Instant, _: Door) -> Result<(), SfuError> {
        core.set_track_muted(&self.sid, &self.track, self.muted)
    }
}

/// The owner stops publishing one track (e.g. ends a screen share) and stays in the room.
#[derive(Debug, Clone)]
pub struct Unpublish {
    pub sid: ParticipantSid,
    pub track: TrackSid,
}

impl Request for Unpublish {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for Unpublish {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        core.unpublish(now, &self.sid, &self.track)
    }
}

/// A moderator mutes or unmutes someone's track: while muted, nothing of it is forwarded,
/// whatever its publisher sends; everyone in the room (the publisher too) is told.
#[derive(Debug, Clone)]
pub struct ForceMute {
    pub track: TrackSid,
    pub muted: bool,
}

impl Request for ForceMute {
    fn route(&self) -> Route<'_> {
        // Only the worker of the track's room has it; the others refuse (unknown track) and
        // the request succeeds if one worker applied it.
        Route::Everywhere
    }
}

impl Input for ForceMute {
    type Output = ();
    fn apply(self, core: &mut SfuCore, _: Instant, _: Door) -> Result<(), SfuError> {
        core.force_mute(&self.track, self.muted)
    }
}

/// Every room and who is in it (hidden viewers included: `meta.hidden`), by name. Never
/// fails (through the driver: unless the media plane stopped).
#[derive(Debug, Clone, Copy)]
pub struct Rooms;

impl Request for Rooms {
    fn route(&self) -> Route<'_> {
        Route::Everywhere
    }

    /// A room spread over workers is listed by each with its own participants: one entry.
    fn gather(mut first: Self::Output, other: Self::Output) -> Self::Output {
        for (room, people) in other {
            match first.iter_mut().find(|(name, _)| *name == room) {
                Some((_, listed)) => listed.extend(people),
                None => first.push((room, people)),
            }
        }
        first.sort_by(|a, b| a.0.cmp(&b.0));
        first
    }
}

impl Input for Rooms {
    type Output = Vec<(String, Vec<ParticipantSnapshot>)>;
    fn apply(self, core: &mut SfuCore, _: Instant, _: Door) -> Result<Self::Output, SfuError> {
        let mut rooms = core.rooms.list();
        for (_, people) in &mut rooms {
            people.retain(|p| !core.shards.is_remote(&p.meta.sid));
        }
        rooms.retain(|(_, people)| !people.is_empty());
        Ok(rooms)
    }
}

/// Who is in one room (hidden viewers included: `meta.hidden`); empty if it is not open.
/// Never fails (through the driver: unless the media plane stopped).
#[derive(Debug, Clone)]
pub struct RoomPeople {
    pub room: String,
}

impl Request for RoomPeople {
    fn route(&self) -> Route<'_> {
        Route::Everywhere
    }

    /// A room spread over workers: each lists its own participants.
    fn gather(mut first: Self::Output, other: Self::Output) -> Self::Output {
        first.extend(other);
        first
    }
}

impl Input for RoomPeople {
    type Output = Vec<ParticipantSnapshot>;
    fn apply(self, core: &mut SfuCore, _: Instant, _: Door) -> Result<Self::Output, SfuError> {
        let mut people = core.rooms.people(&self.room);
        people.retain(|p| !core.shards.is_remote(&p.meta.sid));
        Ok(people)
    }
}

/// Removes a participant (a moderator's decision, or the room ended): its session is told
/// why (`SfuEvent::Removed`, it says goodbye with `reason`), then it leaves like any leaver.
/// Nothing happens to one already gone.
#[derive(Debug, Clone)]
pub struct Remove {
    pub sid: ParticipantSid,
    pub reason: String,
}

impl Request for Remove {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for Remove {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        core.remove(now, &self.sid, &self.reason);
        Ok(())
    }
}

/// Removes a participant: closes their connections, ends their tracks, tells the others.
/// Nothing happens to one already gone.
#[derive(Debug, Clone)]
pub struct Leave {
    pub sid: ParticipantSid,
}

impl Request for Leave {
    fn route(&self) -> Route<'_> {
        Route::Participant(&self.sid)
    }
}

impl Input for Leave {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        core.leave(now, &self.sid);
        Ok(())
    }
}

/// Closes every connection (shutdown); the close alerts are in `poll_transmit`.
#[derive(Debug, Clone, Copy)]
pub struct CloseAll;

impl Request for CloseAll {
    fn route(&self) -> Route<'_> {
        Route::Everywhere
    }
}

impl Input for CloseAll {
    type Output = ();
    fn apply(self, core: &mut SfuCore, now: Instant, _: Door) -> Result<(), SfuError> {
        core.close_all(now);
        Ok(())
    }
}
