//! A session's requests about the call it is in: which token rules the room, publishing, the
//! media connections' answers and candidates, subscriptions, mutes, moderation; and call
//! invitations (ringing), which need the chat device.

use super::convert::{offers_video, sfu_error, source_to_sfu, token_error};
use super::Session;
use crate::auth::{Audience, Claims};
use crate::protocol::{
    ClientMessage, ErrorCode, PeerTarget, PublishTrack, RoomModeration, ServerMessage,
};
use sfu::input::{
    AddIceCandidate, Publish, RestartSubscriberIce, SetLayerLimit, SetTrackMuted, SubscriberAnswer,
    Unpublish,
};
use sfu::{ParticipantSid, PeerRole};

type Reply = Result<ServerMessage, (ErrorCode, String)>;

impl Session {
    /// The claims a `join` runs on: the connection's, or a room token's for the same person.
    pub(super) fn join_claims(
        &self,
        claims: Claims,
        token: Option<String>,
    ) -> Result<Claims, (ErrorCode, String)> {
        let Some(token) = token else {
            return Ok(claims);
        };
        let room_claims = self
            .state
            .tokens
            .verify(&token, Audience::Participant)
            .map_err(token_error)?;
        if room_claims.sub != claims.sub {
            return Err((
                ErrorCode::Forbidden,
                "the room token is for someone else".into(),
            ));
        }
        Ok(room_claims)
    }

    /// Ringing: invite, accept, decline, cancel.
    pub(super) async fn call(&mut self, message: ClientMessage) -> Reply {
        let device = self.chat_device()?;
        let messaging = self.state.messaging.clone();
        match message {
            ClientMessage::CallInvite {
                id,
                conversation,
                media,
                invitees,
            } => {
                messaging
                    .invite(
                        id,
                        device,
                        &self.state.tokens,
                        self.state.config.ring_timeout,
                        (conversation, media, invitees),
                    )
                    .await
            }
            ClientMessage::CallAccept { id, invitation } => {
                messaging
                    .accept(id, device, &self.state.tokens, &invitation)
                    .await
            }
            ClientMessage::CallDecline { id, invitation } => {
                messaging.decline(id, device, &invitation).await
            }
            ClientMessage::CallCancel { id, invitation } => {
                messaging.cancel(id, device, &invitation).await
            }
            _ => Err((ErrorCode::Internal, "not a call request".into())),
        }
    }

    pub(super) async fn publish(
        &mut self,
        claims: &Claims,
        id: String,
        sdp: String,
        tracks: Vec<PublishTrack>,
        target: Option<PeerTarget>,
    ) -> Reply {
        let role = match target.unwrap_or(PeerTarget::Publisher) {
            PeerTarget::Publisher => PeerRole::Publisher,
            PeerTarget::Screen => PeerRole::Screen,
            PeerTarget::Subscriber => {
                return Err((
                    ErrorCode::InvalidMessage,
                    "publish targets the publisher or screen connection".into(),
                ))
            }
        };
        if !claims.grants.publish {
            return Err((
                ErrorCode::Forbidden,
                "the token does not grant publish".into(),
            ));
        }
        let sid = self.require_room()?;
        if self.joined.as_ref().is_some_and(|j| j.audio_only) && offers_video(&sdp) {
            return Err((
                ErrorCode::Forbidden,
                "this room is audio-only: publish without video".into(),
            ));
        }
        let sources = tracks
            .into_iter()
            .map(|t| (t.track_id, source_to_sfu(t.source)))
            .collect();
        let publish = Publish {
            sid,
            role,
            offer: sdp,
            sources,
        };
        let sdp = self.state.sfu.request(publish).await.map_err(sfu_error)?;
        Ok(ServerMessage::PublishAnswer { reply_to: id, sdp })
    }

    pub(super) async fn moderate(
        &mut self,
        claims: &Claims,
        id: String,
        participant: String,
        action: RoomModeration,
    ) -> Reply {
        if !claims.grants.moderate {
            return Err((
                ErrorCode::Forbidden,
                "moderating needs the moderate grant".into(),
            ));
        }
        let room = self
            .joined
            .as_ref()
            .map(|j| j.room.clone())
            .ok_or((ErrorCode::NotInRoom, "join a room first".into()))?;
        crate::moderation::moderate(&self.state, &room, &claims.sub, &participant, action).await?;
        Ok(ServerMessage::Ok { reply_to: id })
    }

    /// Requests on this participant's media connections and tracks, answered `ok`.
    pub(super) async fn media(&mut self, sid: ParticipantSid, message: ClientMessage) -> Reply {
        let sfu = &self.state.sfu;
        let id = message.id().to_owned();
        match message {
            ClientMessage::SubscribeAnswer { sdp, .. } => {
                sfu.request(SubscriberAnswer { sid, answer: sdp }).await
            }
            ClientMessage::RestartIce { .. } => sfu.request(RestartSubscriberIce { sid }).await,
            ClientMessage::IceCandidate {
                target, candidate, ..
            } => {
                let role = match target {
                    PeerTarget::Publisher => PeerRole::Publisher,
                    PeerTarget::Subscriber => PeerRole::Subscriber,
                    PeerTarget::Screen => PeerRole::Screen,
                };
                let candidate = sfu::Candidate {
                    candidate: candidate.candidate,
                    sdp_mid: candidate.sdp_mid,
                    sdp_mline_index: candidate.sdp_mline_index,
                    username_fragment: candidate.username_fragment,
                };
                sfu.request(AddIceCandidate {
                    sid,
                    role,
                    candidate,
                })
                .await
            }
            ClientMessage::UpdateSubscription {
                track,
                paused,
                max_layer,
                width,
                height,
                ..
            } => {
                let limit = match (paused, max_layer, width, height) {
                    (true, ..) => sfu::LayerLimit::Paused,
                    (false, Some(rank), ..) => sfu::LayerLimit::MaxRank(rank),
                    (false, None, Some(width), Some(height)) => {
                        sfu::LayerLimit::Fit { width, height }
                    }
                    _ => sfu::LayerLimit::Highest,
                };
                let track = sfu::TrackSid(track);
                sfu.request(SetLayerLimit { sid, track, limit }).await
            }
            ClientMessage::SetTrackMuted { track, muted, .. } => {
                let track = sfu::TrackSid(track);
                sfu.request(SetTrackMuted { sid, track, muted }).await
            }
            ClientMessage::Unpublish { track, .. } => {
                let track = sfu::TrackSid(track);
                sfu.request(Unpublish { sid, track }).await
            }
            _ => return Err((ErrorCode::Internal, "not a media request".into())),
        }
        .map_err(sfu_error)?;
        Ok(ServerMessage::Ok { reply_to: id })
    }
}
