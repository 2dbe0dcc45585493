//! The subscriber leg: one server-offered connection per participant carrying everyone else's
//! tracks. Track changes are batched into one offer; while an offer is outstanding, further
//! changes wait for the answer (the server never has two offers in flight).

use super::{DownTrack, PeerId, SfuCore, SfuEvent};
use crate::error::SfuError;
use crate::ids::{ParticipantSid, PeerRole, TrackSid};
use crate::rooms::{MediaKind, TrackMeta};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::time::Instant;

impl SfuCore {
    /// Applies the client's answer to the outstanding subscriber offer
    /// (`input::SubscriberAnswer`).
    pub(super) fn subscriber_answer(
        &mut self,
        now: Instant,
        sid: &ParticipantSid,
        answer_sdp: String,
    ) -> Result<(), SfuError> {
        let id = self
            .peer_of(sid, PeerRole::Subscriber)
            .map_err(|_| SfuError::NoPendingOffer)?;
        let peer = self.peers.get_mut(&id).ok_or(SfuError::NoPendingOffer)?;
        if !peer.awaiting_answer {
            return Err(SfuError::NoPendingOffer);
        }
        peer.note_relays(crate::candidate::relay_addresses_in_sdp(&answer_sdp));
        let answer = RTCSessionDescription::answer(answer_sdp)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        peer.pc
            .set_remote_description(now, answer)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        peer.awaiting_answer = false;
        // The answer fixes the payload type of each codec on this leg.
        for down in peer.down.values_mut() {
            let payload_type = super::negotiated_payload_type(&mut peer.pc, down);
            if payload_type.is_none() {
                tracing::warn!(participant = %sid, mime = %down.codec.mime_type, "subscriber did not accept the codec");
            }
            down.forwarder.set_payload_type(payload_type);
        }
        if std::mem::take(&mut peer.renegotiate_after_answer) {
            self.needs_offer.insert(id);
        }
        self.dirty.insert(id);
        Ok(())
    }

    /// Starts carrying `track` on the participant's subscriber connection (creating it).
    pub(super) fn add_down_track(
        &mut self,
        now: Instant,
        subscriber: &ParticipantSid,
        meta: &TrackMeta,
    ) {
        // Members of other workers' shards subscribe there.
        if !self.participants.contains_key(subscriber) {
            return;
        }
        let Some(codec) = self.up_tracks.get(&meta.sid).map(|up| up.codec.clone()) else {
            return;
        };
        if self.is_viewer(subscriber) {
            if let Some(id) = self.participants.get(subscriber).and_then(|p| p.subscriber) {
                self.assign_viewer_sources(id);
            }
            return;
        }
        let id = match self.participants.get(subscriber).and_then(|p| p.subscriber) {
            Some(id) => id,
            None => match self.create_peer(now, subscriber, PeerRole::Subscriber) {
                Ok(id) => id,
                Err(err) => {
                    tracing::error!(participant = %subscriber, %err, "cannot create subscriber connection");
                    return;
                }
            },
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.down.contains_key(&meta.sid) {
            return;
        }
        let ssrc = rand::random::<u32>();
        let kind = match meta.kind {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        };
        // Stream id = track sid: the browser's ontrack names the track by its stream.
        let track = MediaStreamTrack::new(
            meta.sid.to_string(),
            meta.sid.to_string(),
            meta.sid.to_string(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                ..Default::default()
            }],
        );
        let sender_id = match peer.pc.add_track(track) {
            Ok(sender_id) => sender_id,
            Err(err) => {
                tracing::error!(participant = %subscriber, track = %meta.sid, %err, "cannot add down track");
                return;
            }
        };
        peer.down.insert(
            meta.sid.clone(),
            DownTrack::new(sender_id, meta.kind, ssrc, codec),
        );
        if let Some(up) = self.up_tracks.get_mut(&meta.sid) {
            up.subscribers.push(id);
        }
        self.reselect_layers(&meta.sid);
        self.needs_offer.insert(id);
    }

    pub(super) fn remove_down_track(
        &mut self,
        _now: Instant,
        subscriber: &ParticipantSid,
        track: &TrackSid,
    ) {
        let Some(id) = self.participants.get(subscriber).and_then(|p| p.subscriber) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(mut down) = peer.down.remove(track) else {
            return;
        };
        if self
            .participants
            .get(subscriber)
            .is_some_and(|p| p.viewer.is_some())
        {
            // Viewers keep their fixed slots: the slot waits for another source.
            down.switch_source();
            down.layer = Default::default();
            peer.idle.push(down);
            if let Some(up) = self.up_tracks.get_mut(track) {
                up.subscribers.retain(|s| *s != id);
            }
            self.assign_viewer_sources(id);
            return;
        }
        if let Some(estimate) = &peer.estimate {
            estimate.forget_stream(down.forwarder.out_ssrc());
        }
        if let Err(err) = peer.pc.remove_track(down.sender_id) {
            tracing::warn!(participant = %subscriber, track = %track, %err, "cannot remove down track");
        }
        if let Some(up) = self.up_tracks.get_mut(track) {
            up.subscribers.retain(|s| *s != id);
        }
        self.needs_offer.insert(id);
    }

    pub(super) fn send_offer(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.awaiting_answer {
            peer.renegotiate_after_answer = true;
            return;
        }
        let first = peer.pc.local_description().is_none();
        let restart = std::mem::take(&mut peer.restart_ice);
        let options = restart.then_some(RTCOfferOptions { ice_restart: true });
        let offer = match peer.pc.create_offer(options) {
            Ok(offer) => offer,
            Err(err) => {
                tracing::error!(participant = %peer.owner, %err, "cannot create subscriber offer");
                return;
            }
        };
        if let Err(err) = peer.pc.set_local_description(now, offer) {
            tracing::error!(participant = %peer.owner, %err, "cannot apply subscriber offer");
            return;
        }
        let Some(sdp) = peer.pc.local_description().map(|d| d.sdp) else {
            return;
        };
        peer.awaiting_answer = true;
        let owner = peer.owner.clone();
        self.dirty.insert(id);
        if let Err(err) = self.adopt_local_ufrag(id) {
            tracing::error!(participant = %owner, %err, "subscriber offer's ICE ufrag");
            return;
        }
        self.emit(&owner, SfuEvent::SubscriberOffer { sdp });
        if first || restart {
            self.announce_candidates(&owner, PeerRole::Subscriber);
        }
    }

    /// The client asks for an ICE restart of its subscriber connection (its network changed):
    /// the next offer carries new ICE credentials. An offer still unanswered may have been
    /// lost with the client's old socket, so it is sent again first; the restart follows its
    /// answer.
    pub(super) fn restart_subscriber_ice(&mut self, sid: &ParticipantSid) -> Result<(), SfuError> {
        let id = self.peer_of(sid, PeerRole::Subscriber)?;
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
        peer.restart_ice = true;
        if !peer.awaiting_answer {
            self.needs_offer.insert(id);
            return Ok(());
        }
        peer.renegotiate_after_answer = true;
        if let Some(sdp) = peer.pc.local_description().map(|d| d.sdp) {
            let owner = peer.owner.clone();
            self.emit(&owner, SfuEvent::SubscriberOffer { sdp });
        }
        Ok(())
    }
}
