//! A synthetic Parley participant on the async `webrtc` crate: joins through the real protocol,
//! publishes synthetic VP8 + Opus (see `media.rs`), and subscribes to everyone else while
//! checking every received payload byte for byte.

mod peer;
mod sending;

pub use crate::ice::{ClientOptions, IceSetup};
use crate::media::{self, Kind};
use crate::signal::{SignalError, Signaling};
pub(crate) use peer::{candidate_init, codecs, new_peer};
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
pub(crate) use sending::{add_synthetic_tracks, local_offer, start_sending};
use signaling::protocol::{
    ClientMessage, IceCandidate, ParticipantInfo, PeerTarget, PublishTrack, ServerMessage,
    TrackInfo, TrackSource,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionState,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error("webrtc: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

/// What one subscriber saw of one track.
#[derive(Debug, Default, Clone)]
pub struct TrackReceipt {
    pub kind: Option<Kind>,
    pub packets: u64,
    pub payload_bytes: u64,
    pub corrupted: u64,
    pub tags: BTreeSet<u32>,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    /// Payload indices that skipped ahead (lost packets) or went back (reordering).
    pub index_gaps: u64,
    pub index_reorders: u64,
    /// RTP sequence numbers that did not follow the previous one.
    pub seq_discontinuities: u64,
    last_seq: Option<u16>,
}

impl TrackReceipt {
    fn record(&mut self, kind: Kind, seq: u16, payload: &[u8]) {
        self.kind = Some(kind);
        self.packets += 1;
        self.payload_bytes += payload.len() as u64;
        if let Some(last) = self.last_seq {
            if seq != last.wrapping_add(1) {
                self.seq_discontinuities += 1;
            }
        }
        self.last_seq = Some(seq);
        match media::check(kind, payload) {
            Ok((tag, index)) => {
                self.tags.insert(tag);
                self.first_index.get_or_insert(index);
                if let Some(last) = self.last_index {
                    if index > last + 1 {
                        self.index_gaps += 1;
                    } else if index <= last {
                        self.index_reorders += 1;
                    }
                }
                self.last_index = Some(index);
            }
            Err(_) => self.corrupted += 1,
        }
    }
}

/// The room as this client has been told about it.
#[derive(Debug, Default, Clone)]
pub struct RoomView {
    pub participants: HashMap<String, ParticipantInfo>,
    /// Track sid → what the subscriber connection received on it.
    pub received: HashMap<String, TrackReceipt>,
    pub subscriber_connected: bool,
    pub publisher_connected: bool,
    pub offers_answered: u64,
    /// This client's own published tracks, as the server announced them to it.
    pub own_tracks: Vec<TrackInfo>,
    /// This client's participant sid.
    pub you: String,
    /// The latest `active_speakers` event: (participant sid, level), loudest first.
    pub active_speakers: Vec<(String, f32)>,
    pub active_speaker_events: u64,
}

#[derive(Clone)]
pub(crate) struct Shared {
    view: Arc<Mutex<RoomView>>,
    changed: Arc<watch::Sender<u64>>,
    /// How peer connections reach the server; `None` until the join says (its TURN servers).
    ice: Arc<watch::Sender<Option<IceSetup>>>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        let (changed, _) = watch::channel(0);
        let (ice, _) = watch::channel(None);
        Self {
            view: Arc::default(),
            changed: Arc::new(changed),
            ice: Arc::new(ice),
        }
    }

    /// Peer connections made from now on use `setup` (those waiting for it go ahead).
    pub(crate) fn set_ice(&self, setup: IceSetup) {
        self.ice.send_replace(Some(setup));
    }

    /// The ICE setup, once known (a subscriber offer can overtake the join's reply).
    async fn ice(&self) -> Result<IceSetup, ClientError> {
        let mut ice = self.ice.subscribe();
        let known = tokio::time::timeout(Duration::from_secs(10), ice.wait_for(Option::is_some))
            .await
            .map(|setup| setup.map(|s| s.clone().unwrap_or_default()));
        match known {
            Ok(Ok(setup)) => Ok(setup),
            _ => Err(ClientError::Unexpected(
                "no ICE setup: the join never completed".into(),
            )),
        }
    }

    pub(crate) fn view(&self) -> RoomView {
        self.view.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut RoomView)) {
        if let Ok(mut view) = self.view.lock() {
            f(&mut view);
        }
        self.changed.send_modify(|v| *v += 1);
    }
}

/// Sent-packet counters and the tags a subscriber will see.
#[derive(Debug, Default)]
pub struct Publication {
    pub audio_tag: u32,
    pub video_tag: u32,
    pub audio_sent: AtomicU64,
    pub video_sent: AtomicU64,
    /// The RFC 6464 level (-dBov: 0 loudest, 127 silence) every audio packet carries from now on.
    pub audio_level: AtomicU8,
}

pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

pub struct SyntheticClient {
    signaling: Arc<Signaling>,
    shared: Shared,
    pub you: ParticipantInfo,
    subscriber: Arc<tokio::sync::Mutex<Option<Arc<dyn PeerConnection>>>>,
    publisher: Option<Arc<dyn PeerConnection>>,
    stop_media: watch::Sender<bool>,
}

impl SyntheticClient {
    /// Connects to `ws_url` (e.g. `ws://127.0.0.1:8080/ws`), authenticates and joins `room`.
    pub async fn join(ws_url: &str, token: &str, room: &str) -> Result<Self, ClientError> {
        Self::join_with(ws_url, token, room, ClientOptions::default()).await
    }

    /// [`SyntheticClient::join`] with options (e.g. relay only, through TURN).
    pub async fn join_with(
        ws_url: &str,
        token: &str,
        room: &str,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let (signaling, events) = Signaling::connect(ws_url).await?;
        let signaling = Arc::new(signaling);
        signaling.hello(token).await?;
        let shared = Shared::new();
        let subscriber = Arc::new(tokio::sync::Mutex::new(None));
        let (stop_media, _) = watch::channel(false);
        tokio::spawn(event_loop(
            events,
            signaling.clone(),
            shared.clone(),
            subscriber.clone(),
        ));
        let reply = signaling
            .request(|id| ClientMessage::Join {
                id,
                room: room.to_owned(),
                token: None,
            })
            .await?;
        let ServerMessage::Joined {
            you,
            participants,
            ice_servers,
            ..
        } = reply
        else {
            return Err(ClientError::Unexpected(format!("{reply:?}")));
        };
        shared.set_ice(IceSetup {
            servers: ice_servers,
            relay_only: options.relay_only,
        });
        shared.update(|v| {
            v.you = you.sid.clone();
            for p in participants {
                v.participants.insert(p.sid.clone(), p);
            }
        });
        Ok(Self {
            signaling,
            shared,
            you,
            subscriber,
            publisher: None,
            stop_media,
        })
    }

    pub fn view(&self) -> RoomView {
        self.shared
            .view
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Waits until `condition` holds for the room view.
    pub async fn wait_until(
        &self,
        what: &'static str,
        timeout: Duration,
        condition: impl Fn(&RoomView) -> bool,
    ) -> Result<RoomView, ClientError> {
        wait_until(&self.shared, what, timeout, condition).await
    }

    /// Publishes synthetic Opus and VP8 and starts sending once connected.
    pub async fn publish(&mut self) -> Result<Arc<Publication>, ClientError> {
        let pc = new_peer(self.shared.clone(), PeerTarget::Publisher).await?;
        let media = add_synthetic_tracks(&pc, &format!("stream-{}", self.you.sid)).await?;
        let sdp = local_offer(&pc).await?;
        let reply = self
            .signaling
            .request(|id| ClientMessage::Publish {
                id,
                sdp,
                tracks: media.announced.clone(),
                target: None,
            })
            .await?;
        let ServerMessage::PublishAnswer { sdp, .. } = reply else {
            return Err(ClientError::Unexpected(format!("{reply:?}")));
        };
        pc.set_remote_description(RTCSessionDescription::answer(sdp)?)
            .await?;
        self.publisher = Some(pc);
        wait_until(
            &self.shared,
            "publisher connection",
            Duration::from_secs(10),
            |v| v.publisher_connected,
        )
        .await?;
        Ok(start_sending(media, self.stop_media.subscribe()))
    }

    /// Stops the synthetic senders (the connection stays up).
    pub fn stop_media(&self) {
        let _ = self.stop_media.send(true);
    }

    pub async fn leave(&self) -> Result<(), ClientError> {
        self.signaling
            .request(|id| ClientMessage::Leave { id })
            .await?;
        Ok(())
    }

    /// Closes both connections and the socket.
    pub async fn close(self) {
        self.stop_media();
        if let Some(pc) = &self.publisher {
            let _ = pc.close().await;
        }
        if let Some(pc) = self.subscriber.lock().await.take() {
            let _ = pc.close().await;
        }
        self.signaling.close();
    }

    pub fn signaling(&self) -> &Signaling {
        &self.signaling
    }
}

pub(crate) async fn wait_until(
    shared: &Shared,
    what: &'static str,
    timeout: Duration,
    condition: impl Fn(&RoomView) -> bool,
) -> Result<RoomView, ClientError> {
    let mut changed = shared.changed.subscribe();
    let deadline = Instant::now() + timeout;
    loop {
        let view = shared.view();
        if condition(&view) {
            return Ok(view);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, changed.changed()).await {
            Ok(Ok(())) => {}
            _ => return Err(ClientError::Timeout(what)),
        }
    }
}

/// Applies server events: answers subscriber offers, adds server candidates, tracks the room.
async fn event_loop(
    mut events: mpsc::UnboundedReceiver<ServerMessage>,
    signaling: Arc<Signaling>,
    shared: Shared,
    subscriber: Arc<tokio::sync::Mutex<Option<Arc<dyn PeerConnection>>>>,
) {
    let mut early_candidates: Vec<IceCandidate> = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            ServerMessage::SubscribeOffer { sdp } => {
                if let Err(err) =
                    answer_offer(&signaling, &shared, &subscriber, sdp, &mut early_candidates).await
                {
                    tracing::warn!(%err, "could not answer subscriber offer");
                }
            }
            ServerMessage::IceCandidate {
                target: PeerTarget::Subscriber,
                candidate,
            } => {
                let pc = subscriber.lock().await.clone();
                match pc {
                    Some(pc) => {
                        let _ = pc.add_ice_candidate(candidate_init(candidate)).await;
                    }
                    None => early_candidates.push(candidate),
                }
            }
            ServerMessage::ParticipantJoined { participant } => shared.update(|v| {
                v.participants.insert(participant.sid.clone(), participant);
            }),
            ServerMessage::ParticipantLeft { sid } => shared.update(|v| {
                v.participants.remove(&sid);
            }),
            ServerMessage::TrackPublished { track } => shared.update(|v| add_track(v, track)),
            ServerMessage::ActiveSpeakers { speakers } => shared.update(|v| {
                v.active_speakers = speakers.into_iter().map(|s| (s.sid, s.level)).collect();
                v.active_speaker_events += 1;
            }),
            ServerMessage::TrackUnpublished { sid, participant } => shared.update(|v| {
                if let Some(p) = v.participants.get_mut(&participant) {
                    p.tracks.retain(|t| t.sid != sid);
                }
            }),
            ServerMessage::TrackMuted {
                track,
                participant,
                muted,
            } => shared.update(|v| {
                if let Some(t) = v
                    .participants
                    .get_mut(&participant)
                    .and_then(|p| p.tracks.iter_mut().find(|t| t.sid == track))
                {
                    t.muted = muted;
                }
            }),
            _ => {}
        }
    }
}

fn add_track(view: &mut RoomView, track: TrackInfo) {
    if track.participant == view.you {
        if !view.own_tracks.iter().any(|t| t.sid == track.sid) {
            view.own_tracks.push(track);
        }
        return;
    }
    if let Some(p) = view.participants.get_mut(&track.participant) {
        if !p.tracks.iter().any(|t| t.sid == track.sid) {
            p.tracks.push(track);
        }
    }
}

async fn answer_offer(
    signaling: &Signaling,
    shared: &Shared,
    subscriber: &tokio::sync::Mutex<Option<Arc<dyn PeerConnection>>>,
    sdp: String,
    early_candidates: &mut Vec<IceCandidate>,
) -> Result<(), ClientError> {
    let pc = {
        let mut slot = subscriber.lock().await;
        match slot.as_ref() {
            Some(pc) => pc.clone(),
            None => {
                let pc = new_peer(shared.clone(), PeerTarget::Subscriber).await?;
                *slot = Some(pc.clone());
                pc
            }
        }
    };
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
        .await?;
    for candidate in early_candidates.drain(..) {
        let _ = pc.add_ice_candidate(candidate_init(candidate)).await;
    }
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    let sdp = pc
        .local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(ClientError::Unexpected("no local answer".into()))?;
    signaling
        .request(|id| ClientMessage::SubscribeAnswer { id, sdp })
        .await?;
    shared.update(|v| v.offers_answered += 1);
    Ok(())
}
