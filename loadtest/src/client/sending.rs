//! What a synthetic client sends: its synthetic audio and video tracks, the local offer, and
//! the task that paces their packets.

use super::*;

pub(crate) async fn local_offer(pc: &Arc<dyn PeerConnection>) -> Result<String, ClientError> {
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer).await?;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(ClientError::Unexpected("no local offer".into()))
}

/// Synthetic tracks added to a connection, ready to send once it connects.
pub(crate) struct LocalMedia {
    tracks: Vec<LocalTrack>,
    pub announced: Vec<PublishTrack>,
}

struct LocalTrack {
    kind: Kind,
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    ssrc: u32,
    offered_payload_type: u8,
}

pub(crate) async fn add_synthetic_tracks(
    pc: &Arc<dyn PeerConnection>,
    stream_id: &str,
) -> Result<LocalMedia, ClientError> {
    let mut tracks = Vec::new();
    let mut announced = Vec::new();
    for (kind, (codec, rtp_kind)) in [Kind::Audio, Kind::Video].into_iter().zip(codecs()) {
        let ssrc = rand::random::<u32>();
        let label = if kind == Kind::Audio {
            "audio"
        } else {
            "video"
        };
        let track_id = format!("synthetic-{label}-{ssrc}");
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            stream_id.to_owned(),
            track_id.clone(),
            track_id.clone(),
            rtp_kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.rtp_codec.clone(),
                ..Default::default()
            }],
        )));
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        announced.push(PublishTrack {
            track_id,
            source: if kind == Kind::Audio {
                TrackSource::Microphone
            } else {
                TrackSource::Camera
            },
        });
        tracks.push(LocalTrack {
            kind,
            track,
            sender,
            ssrc,
            offered_payload_type: codec.payload_type,
        });
    }
    Ok(LocalMedia { tracks, announced })
}

/// Starts one paced sender per track; they stop when `stop` turns true.
pub(crate) fn start_sending(media: LocalMedia, stop: watch::Receiver<bool>) -> Arc<Publication> {
    let publication = Arc::new(Publication {
        audio_tag: rand::random(),
        video_tag: rand::random(),
        audio_level: AtomicU8::new(127),
        ..Default::default()
    });
    for local in media.tracks {
        let publication = publication.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let payload_type = local
                .sender
                .get_parameters()
                .await
                .ok()
                .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
                .unwrap_or(local.offered_payload_type);
            let kind = local.kind;
            let (tag, counter, period, burst) = match kind {
                Kind::Audio => (
                    publication.audio_tag,
                    &publication.audio_sent,
                    Duration::from_millis(u64::from(media::AUDIO_PACKET_MS)),
                    1,
                ),
                Kind::Video => (
                    publication.video_tag,
                    &publication.video_sent,
                    Duration::from_millis(1000 / u64::from(media::VIDEO_FPS)),
                    media::VIDEO_PACKETS_PER_FRAME,
                ),
            };
            let mut ticker = tokio::time::interval(period);
            let (seq0, ts0) = (rand::random::<u16>(), rand::random::<u32>());
            let mut index = 0u64;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                for _ in 0..burst {
                    let plan = media::plan(kind, index);
                    let packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: plan.marker,
                            payload_type,
                            sequence_number: seq0.wrapping_add(index as u16),
                            timestamp: ts0.wrapping_add(plan.timestamp_offset),
                            ssrc: local.ssrc,
                            ..Default::default()
                        },
                        payload: media::payload(kind, tag, index),
                    };
                    let written = if kind == Kind::Audio {
                        let level = publication.audio_level.load(Ordering::Relaxed).min(127);
                        let extension = rtc::rtp::extension::HeaderExtension::AudioLevel(
                            rtc::rtp::extension::audio_level_extension::AudioLevelExtension {
                                level,
                                voice: level < 127,
                            },
                        );
                        local
                            .track
                            .write_rtp_with_extensions(packet, &[extension])
                            .await
                    } else {
                        local.track.write_rtp(packet).await
                    };
                    if written.is_err() {
                        return;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    index += 1;
                }
            }
        });
    }
    publication
}
