//! Viewers: receive-only participants whose client makes the offer (WHEP). They cannot be
//! renegotiated, so they get fixed slots — one audio, one video, as their offer asked — and the
//! core switches each slot's source as publishers come and go: the followed identity when one is
//! named, else the room's first publisher. Viewers are hidden from the room.

use super::{DownTrack, ParticipantPeers, PeerId, SfuCore, SfuEvent, ViewerPrefs};
use crate::error::SfuError;
use crate::ids::{ParticipantSid, PeerRole, TrackSid};
use crate::rooms::{MediaKind, ParticipantMeta};
use crate::sdp;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::time::Instant;

impl SfuCore {
    /// Adds a hidden viewer to `room` from its offer; returns the answer (`input::JoinViewer`).
    pub(super) fn join_viewer(
        &mut self,
        now: Instant,
        room: &str,
        meta: ParticipantMeta,
        offer_sdp: String,
        follow: Option<String>,
    ) -> Result<String, SfuError> {
        super::publish::check_limits(&offer_sdp, 0)?;
        self.check_capacity(room)?;
        let offer = RTCSessionDescription::offer(offer_sdp)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        let sid = meta.sid.clone();
        let meta = ParticipantMeta {
            hidden: true,
            can_publish: false,
            can_subscribe: true,
            ..meta
        };
        let identity = meta.identity.clone();
        self.start_session(&identity)?;
        if let Err(err) = self.rooms.join(room, meta) {
            self.node.session_ended(&identity);
            return Err(err.into());
        }
        self.participants.insert(
            sid.clone(),
            ParticipantPeers {
                viewer: Some(ViewerPrefs { follow }),
                ..Default::default()
            },
        );
        match self.answer_viewer(now, &sid, offer) {
            Ok(answer) => {
                if let Some(snapshot) = self.rooms.snapshot(&sid) {
                    for other in self.rooms.others(&sid) {
                        self.emit(&other, SfuEvent::ViewerJoined(snapshot.clone()));
                    }
                }
                self.relay_joined(&sid);
                Ok(answer)
            }
            Err(err) => {
                self.leave(now, &sid);
                Err(err)
            }
        }
    }

    pub(super) fn is_viewer(&self, sid: &ParticipantSid) -> bool {
        self.participants
            .get(sid)
            .is_some_and(|p| p.viewer.is_some())
    }

    /// The codec for a viewer's slot of `kind`: among the codecs its offer lists (in its
    /// order) that Parley forwards, the one the room's publishers use if any, else its first.
    fn viewer_codec(
        &self,
        sid: &ParticipantSid,
        kind: MediaKind,
        offered: &[String],
    ) -> Option<RTCRtpCodec> {
        let rtp_kind = rtp_kind(kind);
        let supported: Vec<RTCRtpCodec> = offered
            .iter()
            .filter_map(|name| crate::peer::codec_named(name))
            .filter(|(_, k)| *k == rtp_kind)
            .map(|(codec, _)| codec)
            .collect();
        let published = self.rooms.tracks_for(sid);
        supported
            .iter()
            .find(|c| {
                published
                    .iter()
                    .any(|t| t.kind == kind && t.mime_type.eq_ignore_ascii_case(&c.mime_type))
            })
            .or(supported.first())
            .cloned()
    }

    fn answer_viewer(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        offer: RTCSessionDescription,
    ) -> Result<String, SfuError> {
        let offered = sdp::media_sections(&offer.sdp);
        // One slot per kind, for the first m-line of that kind the viewer can receive on.
        let mut wanted: Vec<(MediaKind, RTCRtpCodec)> = Vec::new();
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let section = offered
                .iter()
                .find(|s| s.kind == kind_name(kind) && s.direction.receives());
            if let Some(codec) = section.and_then(|s| self.viewer_codec(sid, kind, &s.codecs)) {
                wanted.push((kind, codec));
            }
        }
        if wanted.is_empty() {
            return Err(SfuError::NoCommonMedia(
                "the offer has no receiving (recvonly or sendrecv) audio or video m-line with a codec Parley forwards (opus, VP8, H264)".into(),
            ));
        }
        let id = self.create_peer(now, sid, PeerRole::Subscriber)?;
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
        peer.note_relays(crate::candidate::relay_addresses_in_sdp(&offer.sdp));
        peer.pc
            .set_remote_description(now, offer.clone())
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        for (kind, codec) in wanted {
            let ssrc = rand::random::<u32>();
            let name = format!("parley-{}", kind_name(kind));
            let track = MediaStreamTrack::new(
                "parley".to_owned(),
                name.clone(),
                name,
                rtp_kind(kind),
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec.clone(),
                    ..Default::default()
                }],
            );
            let sender_id = peer
                .pc
                .add_track(track)
                .map_err(|e| SfuError::NoCommonMedia(e.to_string()))?;
            peer.idle.push(DownTrack::new(sender_id, kind, ssrc, codec));
        }
        let answer = peer
            .pc
            .create_answer(None)
            .map_err(|e| SfuError::NoCommonMedia(e.to_string()))?;
        peer.pc
            .set_local_description(now, answer)
            .map_err(|e| SfuError::Internal(e.to_string()))?;
        let sdp = peer
            .pc
            .local_description()
            .map(|d| sdp::fix_answer_extmap_directions(&offer.sdp, &d.sdp))
            .ok_or_else(|| SfuError::Internal("no local description after answer".into()))?;
        for slot in &mut peer.idle {
            let payload_type = super::negotiated_payload_type(&mut peer.pc, slot);
            slot.forwarder.set_payload_type(payload_type);
        }
        // A slot whose codec the answer did not keep could never carry anything.
        peer.idle
            .retain(|slot| slot.forwarder.payload_type().is_some());
        if peer.idle.is_empty() {
            return Err(SfuError::NoCommonMedia(
                "no offered codec could be negotiated for any m-line".into(),
            ));
        }
        self.dirty.insert(id);
        self.adopt_local_ufrag(id)?;
        self.assign_viewer_sources(id);
        Ok(sdp)
    }

    /// Points each of the viewer's slots at the track it should show now.
    pub(super) fn assign_viewer_sources(&mut self, id: PeerId) {
        let Some(owner) = self.peers.get(&id).map(|p| p.owner.clone()) else {
            return;
        };
        let follow = self
            .participants
            .get(&owner)
            .and_then(|p| p.viewer.as_ref())
            .and_then(|v| v.follow.clone());
        let tracks = self.rooms.tracks_for(&owner);
        let identity_of =
            |sid: &ParticipantSid| self.rooms.participant(sid).map(|p| p.identity.clone());
        // Whom to show: the followed identity, else whoever published first (video first).
        let shown: Option<ParticipantSid> = match &follow {
            Some(identity) => tracks
                .iter()
                .find(|t| identity_of(&t.owner).as_deref() == Some(identity))
                .map(|t| t.owner.clone()),
            None => tracks
                .iter()
                .find(|t| t.kind == MediaKind::Video)
                .or_else(|| tracks.first())
                .map(|t| t.owner.clone()),
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let mut slots: Vec<(Option<TrackSid>, DownTrack)> = peer
            .down
            .drain()
            .map(|(track, slot)| (Some(track), slot))
            .chain(peer.idle.drain(..).map(|slot| (None, slot)))
            .collect();
        for (current, slot) in &mut slots {
            // Any codec the slot negotiated will do: the slot switches payload type with it.
            let negotiated = slot_codecs(&mut peer.pc, slot);
            let desired = shown.as_ref().and_then(|owner| {
                tracks.iter().find_map(|t| {
                    let codec = negotiated
                        .iter()
                        .find(|(c, _)| c.mime_type.eq_ignore_ascii_case(&t.mime_type))?;
                    (&t.owner == owner && t.kind == slot.forwarder.kind())
                        .then(|| (t.sid.clone(), codec.clone()))
                })
            });
            let (desired, codec) = desired.unzip();
            if *current == desired {
                continue;
            }
            if let Some(old) = current.as_ref().and_then(|t| self.up_tracks.get_mut(t)) {
                old.subscribers.retain(|s| *s != id);
            }
            if let Some((codec, payload_type)) = codec {
                slot.set_codec(codec, payload_type);
            }
            slot.switch_source();
            slot.layer = Default::default();
            if let Some(new) = desired.as_ref().and_then(|t| self.up_tracks.get_mut(t)) {
                new.subscribers.push(id);
                slot.layer
                    .set_target(crate::layers::choose(&new.layers, slot.limit));
                if let (Some(track), Some(ssrc)) = (&desired, slot.layer.waiting_for()) {
                    self.keyframe_wanted.insert((track.clone(), ssrc));
                }
            }
            *current = desired;
        }
        for (current, slot) in slots {
            match current {
                Some(track) => {
                    peer.down.insert(track, slot);
                }
                None => peer.idle.push(slot),
            }
        }
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    }
}

fn rtp_kind(kind: MediaKind) -> RtpCodecKind {
    match kind {
        MediaKind::Audio => RtpCodecKind::Audio,
        MediaKind::Video => RtpCodecKind::Video,
    }
}

/// `video/VP8` against an rtpmap name such as `VP8` (case-insensitive, RFC 4855).
/// The codecs a viewer slot's sender negotiated: (mime type, payload type).
fn slot_codecs(
    pc: &mut rtc::peer_connection::RTCPeerConnection,
    slot: &DownTrack,
) -> Vec<(RTCRtpCodec, u8)> {
    pc.rtp_sender(slot.sender_id)
        .map(|mut sender| {
            sender
                .get_parameters()
                .rtp_parameters
                .codecs
                .iter()
                .map(|c| (c.rtp_codec.clone(), c.payload_type))
                .collect()
        })
        .unwrap_or_default()
}
