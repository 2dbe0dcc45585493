//! Viewers: receive-only participants whose client makes the offer (WHEP). They cannot be
//! renegotiated, so they get fixed slots — one audio, one video, as their offer asked — and the
//! core switches each slot's source as publishers come and go: the followed identity when one is
//! named, else the room's first publisher. Viewers are hidden from the room.

use super::{DownTrack, ParticipantPeers, PeerId, SfuCore, ViewerPrefs};
use crate::error::SfuError;
use crate::ids::{ParticipantSid, PeerRole, TrackSid};
use crate::peer::codecs;
use crate::rooms::{MediaKind, ParticipantMeta};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::time::Instant;

impl SfuCore {
    /// Adds a hidden viewer to `room` from its offer; returns the answer.
    pub fn join_viewer(
        &mut self,
        now: Instant,
        room: &str,
        meta: ParticipantMeta,
        offer_sdp: String,
        follow: Option<String>,
    ) -> Result<String, SfuError> {
        let offer = RTCSessionDescription::offer(offer_sdp)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        let sid = meta.sid.clone();
        let meta = ParticipantMeta {
            hidden: true,
            can_publish: false,
            can_subscribe: true,
            ..meta
        };
        self.rooms.join(room, meta)?;
        self.participants.insert(
            sid.clone(),
            ParticipantPeers {
                viewer: Some(ViewerPrefs { follow }),
                ..Default::default()
            },
        );
        match self.answer_viewer(now, &sid, offer) {
            Ok(answer) => {
                self.finish(now);
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

    fn answer_viewer(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        offer: RTCSessionDescription,
    ) -> Result<String, SfuError> {
        let wants = |kind: &str| {
            offer
                .sdp
                .lines()
                .any(|l| l.starts_with(&format!("m={kind} ")))
        };
        let kinds: Vec<MediaKind> = [("audio", MediaKind::Audio), ("video", MediaKind::Video)]
            .into_iter()
            .filter(|(name, _)| wants(name))
            .map(|(_, kind)| kind)
            .collect();
        let id = self.create_peer(now, sid, PeerRole::Subscriber)?;
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
        peer.pc
            .set_remote_description(now, offer)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        for kind in kinds {
            let rtp_kind = match kind {
                MediaKind::Audio => RtpCodecKind::Audio,
                MediaKind::Video => RtpCodecKind::Video,
            };
            // The slot's codec is the first Parley forwards for the kind (Opus, VP8).
            let Some((codec, _)) = codecs().into_iter().find(|(_, k)| *k == rtp_kind) else {
                continue;
            };
            let ssrc = rand::random::<u32>();
            let name = format!(
                "parley-{}",
                if kind == MediaKind::Audio {
                    "audio"
                } else {
                    "video"
                }
            );
            let track = MediaStreamTrack::new(
                "parley".to_owned(),
                name.clone(),
                name,
                rtp_kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec.rtp_codec.clone(),
                    ..Default::default()
                }],
            );
            let sender_id = peer
                .pc
                .add_track(track)
                .map_err(|e| SfuError::Internal(e.to_string()))?;
            peer.idle
                .push(DownTrack::new(sender_id, kind, ssrc, codec.rtp_codec));
        }
        let answer = peer
            .pc
            .create_answer(None)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        peer.pc
            .set_local_description(now, answer)
            .map_err(|e| SfuError::Internal(e.to_string()))?;
        let sdp = peer
            .pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or_else(|| SfuError::Internal("no local description after answer".into()))?;
        for slot in &mut peer.idle {
            let payload_type = super::negotiated_payload_type(&mut peer.pc, slot);
            slot.forwarder.set_payload_type(payload_type);
        }
        self.dirty.insert(id);
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
            let desired = shown.as_ref().and_then(|owner| {
                tracks
                    .iter()
                    .find(|t| {
                        &t.owner == owner
                            && t.kind == slot.forwarder.kind()
                            && t.mime_type.eq_ignore_ascii_case(&slot.codec.mime_type)
                    })
                    .map(|t| t.sid.clone())
            });
            if *current == desired {
                continue;
            }
            if let Some(old) = current.as_ref().and_then(|t| self.up_tracks.get_mut(t)) {
                old.subscribers.retain(|s| *s != id);
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
