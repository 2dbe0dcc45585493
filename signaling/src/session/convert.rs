//! Between the media plane's types and the protocol's: media events as client messages, errors
//! as codes, tracks and participants as the client sees them.

use super::Session;
use crate::auth::TokenError;
use crate::protocol::{
    ErrorCode, IceCandidate, ParticipantInfo, PeerTarget, ServerMessage, TrackInfo, TrackKind,
    TrackSource,
};
use sfu::{PeerRole, SfuError, SfuEvent};

impl Session {
    /// Turns a media event into the protocol event the client sees (`None`: not for clients).
    pub fn event_message(&self, event: SfuEvent) -> Option<ServerMessage> {
        Some(match event {
            SfuEvent::ParticipantJoined(snapshot) => ServerMessage::ParticipantJoined {
                participant: participant_info(&snapshot),
            },
            SfuEvent::ParticipantLeft(sid) => ServerMessage::ParticipantLeft {
                sid: sid.to_string(),
            },
            SfuEvent::ViewerJoined(snapshot) if self.moderates() => ServerMessage::ViewerJoined {
                participant: participant_info(&snapshot),
            },
            SfuEvent::ViewerLeft(sid) if self.moderates() => ServerMessage::ViewerLeft {
                sid: sid.to_string(),
            },
            SfuEvent::ViewerJoined(_) | SfuEvent::ViewerLeft(_) => return None,
            SfuEvent::TrackPublished(track) => ServerMessage::TrackPublished {
                track: track_info(&track),
            },
            SfuEvent::TrackUnpublished { track, owner } => ServerMessage::TrackUnpublished {
                sid: track.to_string(),
                participant: owner.to_string(),
            },
            SfuEvent::TrackMuted {
                track,
                owner,
                muted,
            } => ServerMessage::TrackMuted {
                track: track.to_string(),
                participant: owner.to_string(),
                muted,
            },
            SfuEvent::Removed { reason } => ServerMessage::Goodbye { reason },
            SfuEvent::SubscriberOffer { sdp } => ServerMessage::SubscribeOffer { sdp },
            SfuEvent::IceCandidate { role, candidate } => ServerMessage::IceCandidate {
                target: match role {
                    PeerRole::Publisher => PeerTarget::Publisher,
                    PeerRole::Subscriber => PeerTarget::Subscriber,
                    PeerRole::Screen => PeerTarget::Screen,
                },
                candidate: IceCandidate {
                    candidate: candidate.candidate,
                    sdp_mid: candidate.sdp_mid,
                    sdp_mline_index: candidate.sdp_mline_index,
                    username_fragment: candidate.username_fragment,
                },
            },
            SfuEvent::ActiveSpeakers(speakers) => ServerMessage::ActiveSpeakers {
                speakers: speakers
                    .into_iter()
                    .map(|(sid, level)| crate::protocol::SpeakerLevel {
                        sid: sid.to_string(),
                        level: (level * 1000.0).round() / 1000.0,
                    })
                    .collect(),
            },
            SfuEvent::PublisherLayers {
                track,
                track_id,
                active_rids,
            } => ServerMessage::PublisherLayers {
                track: track.to_string(),
                track_id,
                active: active_rids,
            },
            SfuEvent::PeerState { role, state } => {
                if let Some(joined) = &self.joined {
                    tracing::debug!(participant = %joined.sid, ?role, ?state, "peer state");
                }
                return None;
            }
        })
    }
}

/// Whether an SDP offer sends video (an active video m-line that is not receive-only).
pub(super) fn offers_video(sdp: &str) -> bool {
    let mut in_video = false;
    let mut sends = false;
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            if in_video && sends {
                return true;
            }
            let mut fields = media.split_whitespace();
            in_video = fields.next() == Some("video") && fields.next() != Some("0");
            sends = true;
        } else if in_video && matches!(line.trim(), "a=recvonly" | "a=inactive") {
            sends = false;
        }
    }
    in_video && sends
}

pub(super) fn token_error(err: TokenError) -> (ErrorCode, String) {
    let code = match err {
        TokenError::Expired => ErrorCode::TokenExpired,
        TokenError::Invalid(_) => ErrorCode::InvalidToken,
    };
    (code, err.to_string())
}

pub(crate) fn sfu_error(err: SfuError) -> (ErrorCode, String) {
    let code = match &err {
        SfuError::NotInRoom => ErrorCode::NotInRoom,
        SfuError::AlreadyInRoom => ErrorCode::AlreadyInRoom,
        SfuError::PublishNotAllowed => ErrorCode::Forbidden,
        SfuError::InvalidSdp(_) => ErrorCode::InvalidSdp,
        SfuError::NoCommonMedia(_) => ErrorCode::UnsupportedMedia,
        SfuError::LimitExceeded(_) => ErrorCode::InvalidMessage,
        SfuError::Capacity(_) => ErrorCode::AtCapacity,
        SfuError::RoomFull => ErrorCode::RoomFull,
        SfuError::NoPendingOffer => ErrorCode::NoPendingOffer,
        SfuError::UnknownSession => ErrorCode::UnknownSession,
        SfuError::InvalidCandidate(_) => ErrorCode::InvalidCandidate,
        SfuError::UnknownTrack => ErrorCode::UnknownTrack,
        SfuError::Stopped => ErrorCode::ServerShuttingDown,
        _ => ErrorCode::Internal,
    };
    if code == ErrorCode::Internal {
        tracing::error!(%err, "media plane error");
        return (code, "internal media error".into());
    }
    (code, err.to_string())
}

pub(super) fn source_to_sfu(source: TrackSource) -> sfu::TrackSource {
    match source {
        TrackSource::Camera => sfu::TrackSource::Camera,
        TrackSource::Microphone => sfu::TrackSource::Microphone,
        TrackSource::Screen => sfu::TrackSource::Screen,
        TrackSource::ScreenAudio => sfu::TrackSource::ScreenAudio,
        TrackSource::Unknown => sfu::TrackSource::Unknown,
    }
}

pub(super) fn source_from_sfu(source: sfu::TrackSource) -> TrackSource {
    match source {
        sfu::TrackSource::Camera => TrackSource::Camera,
        sfu::TrackSource::Microphone => TrackSource::Microphone,
        sfu::TrackSource::Screen => TrackSource::Screen,
        sfu::TrackSource::ScreenAudio => TrackSource::ScreenAudio,
        sfu::TrackSource::Unknown => TrackSource::Unknown,
    }
}

pub(super) fn track_info(track: &sfu::TrackMeta) -> TrackInfo {
    TrackInfo {
        sid: track.sid.to_string(),
        participant: track.owner.to_string(),
        kind: match track.kind {
            sfu::MediaKind::Audio => TrackKind::Audio,
            sfu::MediaKind::Video => TrackKind::Video,
        },
        source: source_from_sfu(track.source),
        mime_type: track.mime_type.clone(),
        muted: track.muted,
    }
}

pub(super) fn participant_info(snapshot: &sfu::ParticipantSnapshot) -> ParticipantInfo {
    ParticipantInfo {
        sid: snapshot.meta.sid.to_string(),
        identity: snapshot.meta.identity.clone(),
        name: snapshot.meta.name.clone(),
        tracks: snapshot.tracks.iter().map(track_info).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::offers_video;

    #[test]
    fn video_in_an_offer_table() {
        let rows = [
            ("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n", false),
            (
                "m=audio 9 X 111\r\na=sendonly\r\nm=video 9 X 96\r\na=sendonly\r\n",
                true,
            ),
            ("m=video 9 X 96\r\na=recvonly\r\nm=audio 9 X 111\r\n", false),
            ("m=video 0 X 96\r\na=sendonly\r\n", false),
            ("m=video 9 X 96\r\na=inactive\r\n", false),
            ("m=video 9 X 96\r\na=sendrecv\r\nm=audio 9 X 111\r\n", true),
        ];
        for (i, (sdp, expected)) in rows.into_iter().enumerate() {
            assert_eq!(offers_video(sdp), expected, "row {i}");
        }
    }
}
