//! The publisher leg: the client's offer, its incoming tracks, and forwarding their packets to
//! every subscriber connection that carries them.

use super::fan_out::{audio_level, fan_out, observe_level, Fan};
use super::relay::Relayed;
use super::{Peer, PeerId, SfuCore, SfuEvent, TrackOrigin, UpTrack};
use crate::codec::VideoCodec;
use crate::error::SfuError;
use crate::ids::{ParticipantSid, PeerRole, TrackSid};
use crate::layers::Layer;
use crate::rooms::{MediaKind, TrackMeta, TrackSource};
use crate::sdp;
use crate::stats::SfuStats;
use rtc::peer_connection::event::RTCTrackEvent;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use std::collections::HashMap;
use std::time::Instant;

impl SfuCore {
    /// Applies a publisher offer (first or renegotiation) and returns the answer SDP, on the
    /// camera/microphone connection (`Publisher`) or the screen-share one (`Screen`)
    /// (`input::Publish`).
    pub(super) fn publish_on(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        role: PeerRole,
        offer_sdp: String,
        sources: Vec<(String, TrackSource)>,
    ) -> Result<String, SfuError> {
        if !role.publishes() {
            return Err(SfuError::UnknownSession);
        }
        let meta = self.rooms.participant(sid).ok_or(SfuError::NotInRoom)?;
        if !meta.can_publish {
            return Err(SfuError::PublishNotAllowed);
        }
        check_limits(&offer_sdp, sources.len())?;
        let offer = RTCSessionDescription::offer(sdp::normalize_offer(&offer_sdp))
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        refuse_unforwardable(&offer.sdp)?;
        let existing = self.peer_of(sid, role).ok();
        let id = match existing {
            Some(id) => id,
            None => self.create_peer(now, sid, role)?,
        };
        if let Some(peers) = self.participants.get_mut(sid) {
            // The offer describes the whole connection: its list replaces the previous one.
            peers.sources.insert(role, sources.into_iter().collect());
        }
        let result = self.negotiate_publisher(now, id, offer);
        if result.is_err() && existing.is_none() {
            // A first offer that failed leaves nothing behind; the client may simply retry.
            self.close_peer(now, id);
            if let Some(peers) = self.participants.get_mut(sid) {
                match role {
                    PeerRole::Screen => peers.screen = None,
                    _ => peers.publisher = None,
                }
            }
        }
        let answer = result?;
        if existing.is_none() {
            self.announce_candidates(sid, role);
        }
        Ok(answer)
    }

    fn negotiate_publisher(
        &mut self,
        now: Instant,
        id: PeerId,
        offer: RTCSessionDescription,
    ) -> Result<String, SfuError> {
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
        let sdp_error = |e: rtc::shared::error::Error| SfuError::InvalidSdp(e.to_string());
        peer.note_relays(crate::candidate::relay_addresses_in_sdp(&offer.sdp));
        peer.pc
            .set_remote_description(now, offer.clone())
            .map_err(sdp_error)?;
        let answer = peer.pc.create_answer(None).map_err(sdp_error)?;
        peer.pc
            .set_local_description(now, answer)
            .map_err(|e| SfuError::Internal(e.to_string()))?;
        self.dirty.insert(id);
        self.adopt_local_ufrag(id)?;
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
        let answer = peer
            .pc
            .local_description()
            .map(|d| sdp::fix_answer_extmap_directions(&offer.sdp, &d.sdp))
            .ok_or_else(|| SfuError::Internal("no local description after answer".into()))?;
        refuse_if_nothing_received(&offer.sdp, &answer)?;
        Ok(answer)
    }

    pub(super) fn on_publisher_track(
        &mut self,
        now: Instant,
        id: PeerId,
        peer: &mut Peer,
        event: RTCTrackEvent,
    ) {
        match event {
            RTCTrackEvent::OnOpen(init) => {
                let remote_id = init.track_id.to_string();
                let known = self
                    .track_by_remote
                    .get(&id)
                    .and_then(|m| m.get(&remote_id))
                    .cloned();
                if let Some(track) = known {
                    // Another simulcast encoding of a track we already have.
                    if let Some(up) = self.up_tracks.get_mut(&track) {
                        if !up.layers.iter().any(|l| l.ssrc == init.ssrc) {
                            let rid = init.rid.as_ref().map(|r| r.to_string());
                            tracing::info!(track = %track, rid = ?rid, "simulcast layer opened");
                            up.layers.push(Layer::new(rid, init.ssrc));
                        }
                    }
                    self.relay_track(&track, false);
                    self.reselect_layers(&track);
                    return;
                }
                let Some(mut receiver) = peer.pc.rtp_receiver(init.receiver_id) else {
                    return;
                };
                let audio_level_ext = receiver
                    .get_parameters()
                    .rtp_parameters
                    .header_extensions
                    .iter()
                    .find(|e| e.uri == crate::peer::AUDIO_LEVEL_URI)
                    .and_then(|e| u8::try_from(e.id).ok());
                let track = receiver.track();
                let kind = match track.kind() {
                    RtpCodecKind::Audio => MediaKind::Audio,
                    _ => MediaKind::Video,
                };
                let Some(codec) = track.codec(init.ssrc).cloned() else {
                    tracing::warn!(participant = %peer.owner, "track opened without a codec");
                    return;
                };
                let owner = peer.owner.clone();
                let source = self
                    .participants
                    .get(&owner)
                    .and_then(|p| p.sources.get(&peer.role)?.get(&remote_id).copied())
                    .unwrap_or(match kind {
                        MediaKind::Audio => TrackSource::Microphone,
                        MediaKind::Video => TrackSource::Camera,
                    });
                let meta = TrackMeta {
                    sid: TrackSid::random(),
                    owner: owner.clone(),
                    kind,
                    source,
                    mime_type: codec.mime_type.clone(),
                    muted: false,
                };
                let audience = match self.rooms.publish(meta.clone()) {
                    Ok(audience) => audience,
                    Err(err) => {
                        tracing::warn!(participant = %owner, %err, "track refused");
                        return;
                    }
                };
                tracing::info!(participant = %owner, track = %meta.sid, mime = %meta.mime_type, "track published");
                self.track_by_remote
                    .entry(id)
                    .or_default()
                    .insert(remote_id.clone(), meta.sid.clone());
                let room = self.rooms.room_name(&owner).unwrap_or_default().to_owned();
                self.up_tracks.insert(
                    meta.sid.clone(),
                    UpTrack {
                        owner: owner.clone(),
                        remote_track_id: remote_id.clone(),
                        room,
                        audio_level_ext,
                        origin: TrackOrigin::Local {
                            publisher: id,
                            receiver_id: init.receiver_id,
                        },
                        layers: vec![Layer::new(
                            init.rid.as_ref().map(|r| r.to_string()),
                            init.ssrc,
                        )],
                        video_codec: VideoCodec::from_mime(&codec.mime_type),
                        codec,
                        subscribers: Vec::new(),
                        force_muted: false,
                        remote_demand: HashMap::new(),
                    },
                );
                self.relay_track(&meta.sid, true);
                // The publisher too: it learns the sid it mutes or unpublishes the track by.
                for participant in self.rooms.others(&owner).into_iter().chain([owner.clone()]) {
                    self.emit(&participant, SfuEvent::TrackPublished(meta.clone()));
                }
                for subscriber in audience {
                    self.add_down_track(now, &subscriber, &meta);
                }
            }
            RTCTrackEvent::OnClose(track_id) => {
                let track = self
                    .track_by_remote
                    .get_mut(&id)
                    .and_then(|m| m.remove(track_id.as_str()));
                if let Some(track) = track {
                    if let Some((meta, audience)) = self.rooms.unpublish(&track) {
                        self.end_up_track(now, &track, &audience, &meta.owner);
                    }
                }
            }
            _ => {}
        }
    }

    /// The owner muted or unmuted a track: the room is told. Media keeps flowing (a muted
    /// browser track sends silence or black frames), so nothing changes on the media path
    /// (`input::SetTrackMuted`).
    pub(super) fn set_track_muted(
        &mut self,
        sid: &ParticipantSid,
        track: &TrackSid,
        muted: bool,
    ) -> Result<(), SfuError> {
        let others = self.rooms.set_muted(sid, track, muted)?;
        if !self.shards.is_remote(sid) {
            let room = self.rooms.room_name(sid).unwrap_or_default().to_owned();
            self.relay_track_change(&room, || Relayed::Muted {
                track: track.clone(),
                muted,
            });
        }
        for other in others {
            self.emit(
                &other,
                SfuEvent::TrackMuted {
                    track: track.clone(),
                    owner: sid.clone(),
                    muted,
                },
            );
        }
        Ok(())
    }

    /// A moderator mutes or unmutes someone's track: while muted, nothing of it is forwarded,
    /// whatever its publisher sends; everyone in the room (the publisher too) is told
    /// (`input::ForceMute`).
    pub(super) fn force_mute(&mut self, track: &TrackSid, muted: bool) -> Result<(), SfuError> {
        let (owner, everyone) = self.rooms.force_muted(track, muted)?;
        if let Some(up) = self.up_tracks.get_mut(track) {
            let resumed = up.force_muted && !muted;
            up.force_muted = muted;
            if resumed {
                // What was held back never reached the subscribers: each stream goes on from
                // its last forwarded packet (no sequence gap for them to NACK), video from a
                // keyframe, as after a source switch.
                for subscriber in &up.subscribers {
                    let down = self
                        .peers
                        .get_mut(subscriber)
                        .and_then(|peer| peer.down.get_mut(track));
                    if let Some(down) = down {
                        down.forwarder.switch_source();
                    }
                }
            }
        }
        for participant in everyone {
            self.emit(
                &participant,
                SfuEvent::TrackMuted {
                    track: track.clone(),
                    owner: owner.clone(),
                    muted,
                },
            );
        }
        tracing::info!(track = %track, muted, "track muted by a moderator");
        Ok(())
    }

    /// The owner stops publishing one track (e.g. ends a screen share) and stays in the room
    /// (`input::Unpublish`).
    pub(super) fn unpublish(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        track: &TrackSid,
    ) -> Result<(), SfuError> {
        if self.rooms.track(track).map(|t| &t.owner) != Some(sid) {
            return Err(SfuError::UnknownTrack);
        }
        if let Some(publisher) = self.up_tracks.get(track).and_then(|u| u.origin.publisher()) {
            if let Some(by_remote) = self.track_by_remote.get_mut(&publisher) {
                by_remote.retain(|_, t| t != track);
            }
        }
        if let Some((meta, audience)) = self.rooms.unpublish(track) {
            self.end_up_track(now, track, &audience, &meta.owner);
        }
        Ok(())
    }

    /// Removes a published track from every subscriber and tells the room.
    pub(super) fn end_up_track(
        &mut self,
        now: Instant,
        track: &TrackSid,
        audience: &[ParticipantSid],
        owner: &ParticipantSid,
    ) {
        if let Some(up) = self.up_tracks.remove(track) {
            if up.origin.relayed_from().is_none() {
                self.relay_track_change(&up.room, || Relayed::Unpublished {
                    track: track.clone(),
                });
            }
        }
        for participant in audience {
            self.remove_down_track(now, participant, track);
        }
        let everyone: Vec<ParticipantSid> = audience
            .iter()
            .cloned()
            .chain(self.rooms.others(owner))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for participant in everyone {
            self.emit(
                &participant,
                SfuEvent::TrackUnpublished {
                    track: track.clone(),
                    owner: owner.clone(),
                },
            );
        }
        tracing::info!(participant = %owner, track = %track, "track unpublished");
    }

    /// Forwards one publisher packet to every subscriber of its track, here and on the other
    /// workers holding its room.
    pub(super) fn forward_rtp(
        &mut self,
        now: Instant,
        publisher: PeerId,
        remote_track_id: &str,
        mut packet: rtc::rtp::Packet,
    ) {
        let SfuCore {
            track_by_remote,
            up_tracks,
            shards,
            speakers,
            timers,
            peers,
            stats,
            dirty,
            ..
        } = self;
        let Some(track) = track_by_remote
            .get(&publisher)
            .and_then(|m| m.get(remote_track_id))
        else {
            return;
        };
        let Some(up) = up_tracks.get_mut(track) else {
            return;
        };
        SfuStats::add(&stats.received_packets, 1);
        if up.force_muted {
            return;
        }
        let level = up.audio_level_ext.and_then(|id| audio_level(&packet, id));
        if let Some(level) = level {
            observe_level(speakers, timers, up, level, now);
        }
        // Extensions carry the publisher's ids: strip them once, not per subscriber.
        packet.header.extension = false;
        packet.header.extensions.clear();
        let keyframe = up
            .video_codec
            .is_some_and(|codec| codec.is_keyframe_start(&packet.payload));
        SfuCore::relay_media(shards, up, track, &packet, level, keyframe);
        let (wanted, layers_changed) = fan_out(
            &mut Fan {
                peers,
                stats,
                dirty,
            },
            up,
            track,
            packet,
            keyframe,
            now,
        );
        if !wanted.is_empty() || layers_changed {
            let track = track.clone();
            self.after_fan_out(&track, wanted, layers_changed);
        }
    }

    /// What forwarding one packet asked for: keyframes of layers subscribers wait for, and new
    /// layer choices when a layer's size changed.
    pub(super) fn after_fan_out(
        &mut self,
        track: &TrackSid,
        wanted: Vec<u32>,
        layers_changed: bool,
    ) {
        for ssrc in wanted {
            self.keyframe_wanted.insert((track.clone(), ssrc));
        }
        if layers_changed {
            self.reselect_layers(track);
        }
    }
}

/// Offers with more m-lines, or publishes naming more tracks, than any real client sends.
pub(super) fn check_limits(offer: &str, tracks: usize) -> Result<(), SfuError> {
    let sections = sdp::media_sections(offer).len();
    let max = super::MAX_MEDIA_SECTIONS;
    if sections > max {
        return Err(SfuError::LimitExceeded(format!(
            "the offer has {sections} m-lines; at most {max}"
        )));
    }
    if tracks > max {
        return Err(SfuError::LimitExceeded(format!(
            "publish names {tracks} tracks; at most {max}"
        )));
    }
    Ok(())
}

/// A publisher offer that sends audio or video, but in no codec Parley forwards: refused before
/// webrtc-rs negotiates it, with the codecs it named.
fn refuse_unforwardable(offer: &str) -> Result<(), SfuError> {
    let sending: Vec<sdp::MediaSection> = sdp::media_sections(offer)
        .into_iter()
        .filter(|s| (s.kind == "audio" || s.kind == "video") && s.direction.sends())
        .collect();
    let forwardable = |name: &String| crate::peer::codec_named(name).is_some();
    if sending.is_empty() || sending.iter().any(|s| s.codecs.iter().any(forwardable)) {
        return Ok(());
    }
    let codecs: Vec<&str> = sending
        .iter()
        .flat_map(|s| s.codecs.iter().map(String::as_str))
        .collect();
    Err(SfuError::NoCommonMedia(format!(
        "none of the offered codecs ({}) is one Parley forwards (opus, VP8, H264 packetization-mode 1)",
        codecs.join(", ")
    )))
}

/// A publisher offer that sends audio or video, answered without accepting any of it (no codec
/// in common), would connect and carry nothing: refuse it instead.
fn refuse_if_nothing_received(offer: &str, answer: &str) -> Result<(), SfuError> {
    let is_media = |s: &sdp::MediaSection| s.kind == "audio" || s.kind == "video";
    let offered = sdp::media_sections(offer);
    let sends = offered.iter().any(|s| is_media(s) && s.direction.sends());
    let accepted = sdp::media_sections(answer)
        .iter()
        .any(|s| is_media(s) && s.accepted && s.direction.receives() && !s.codecs.is_empty());
    if sends && !accepted {
        let codecs: Vec<&str> = offered
            .iter()
            .filter(|s| is_media(s))
            .flat_map(|s| s.codecs.iter().map(String::as_str))
            .collect();
        return Err(SfuError::NoCommonMedia(format!(
            "none of the offered codecs ({}) is one Parley forwards (opus, VP8, H264 packetization-mode 1)",
            codecs.join(", ")
        )));
    }
    Ok(())
}
