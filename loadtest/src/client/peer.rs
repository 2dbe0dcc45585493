//! A synthetic client's peer connections: codecs, the event handler that records what arrives,
//! and the ICE setup its join handed out.

use super::*;

pub(crate) fn codecs() -> Vec<(RTCRtpCodecParameters, RtpCodecKind)> {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    };
    vec![
        (
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: MIME_TYPE_OPUS.into(),
                    clock_rate: 48_000,
                    channels: 2,
                    sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                    rtcp_feedback: vec![],
                },
                payload_type: 111,
            },
            RtpCodecKind::Audio,
        ),
        (
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: MIME_TYPE_VP8.into(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line: String::new(),
                    rtcp_feedback: vec![feedback("nack", ""), feedback("nack", "pli")],
                },
                payload_type: 96,
            },
            RtpCodecKind::Video,
        ),
        // Received only (the synthetic publisher sends the first two): H264 publishers such
        // as OBS or GStreamer reach synthetic subscribers too.
        (
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: MIME_TYPE_H264.into(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line:
                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
                            .into(),
                    rtcp_feedback: vec![feedback("nack", ""), feedback("nack", "pli")],
                },
                payload_type: 102,
            },
            RtpCodecKind::Video,
        ),
    ]
}

struct Handler {
    shared: Shared,
    role: PeerTarget,
}

/// How received tracks are named in `RoomView::received`: Parley's subscriber offers carry the
/// track sid as the msid stream id; WHEP answers name each slot by its msid track id.
async fn received_track_key(track: &Arc<dyn TrackRemote>, role: PeerTarget) -> String {
    match role {
        PeerTarget::Subscriber => track.stream_id().await.to_string(),
        PeerTarget::Publisher | PeerTarget::Screen => track.track_id().await.to_string(),
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let connected = state == RTCPeerConnectionState::Connected;
        let role = self.role;
        self.shared.update(|v| match role {
            PeerTarget::Publisher | PeerTarget::Screen => v.publisher_connected = connected,
            PeerTarget::Subscriber => v.subscriber_connected = connected,
        });
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let shared = self.shared.clone();
        let role = self.role;
        tokio::spawn(async move {
            let sid = received_track_key(&track, role).await;
            let kind = match track.kind().await {
                RtpCodecKind::Audio => Kind::Audio,
                _ => Kind::Video,
            };
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    shared.update(|v| {
                        v.received.entry(sid.clone()).or_default().record(
                            kind,
                            packet.header.sequence_number,
                            &packet.payload,
                        )
                    });
                }
            }
        });
    }
}

/// `role` says which way media flows; a WHEP viewer receives on a `Publisher`-role connection
/// because it made the offer (see [`received_track_key`]).
pub(crate) async fn new_peer(
    shared: Shared,
    role: PeerTarget,
) -> Result<Arc<dyn PeerConnection>, ClientError> {
    let mut engine = MediaEngine::default();
    for (codec, kind) in codecs() {
        engine.register_codec(codec, kind)?;
    }
    engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)?;
    let configuration = crate::ice::configuration(shared.ice().await?);
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler { shared, role }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await?;
    Ok(Arc::new(pc))
}

pub(crate) fn candidate_init(candidate: IceCandidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: candidate.candidate,
        sdp_mid: candidate.sdp_mid,
        sdp_mline_index: candidate.sdp_mline_index,
        username_fragment: candidate.username_fragment,
        ..Default::default()
    }
}
