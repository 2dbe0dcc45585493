//! How Parley configures each webrtc-rs `rtc` peer connection: codecs, header extensions,
//! interceptors, ICE-lite with server-chosen credentials, host candidates on the shared port.
//! Everything that would otherwise differ silently between the publisher and subscriber legs
//! lives here, so both legs negotiate the same payload types.

use crate::delivery::{Congestion, Delivered, DeliveryMonitor};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{
    Attribute, BandwidthEstimator, CongestionControlBuilder, EstimatorStats, Gcc, Interceptor,
    Packet, PacketReport, Registry, Slot, StreamInfo, TaggedPacket, TwccSenderBuilder,
};
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::error::{Error, Result};
use rtc::shared::marshal::MarshalSize;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a subscriber's estimate starts: enough for the middle layer, not the top one, so a
/// new subscriber climbs as the estimate proves the path (switch up slowly, down fast).
pub const INITIAL_DOWNLINK_BPS: f64 = 1_000_000.0;
pub const MIN_DOWNLINK_BPS: f64 = 100_000.0;
pub const MAX_DOWNLINK_BPS: f64 = 20_000_000.0;

/// A subscriber connection's downlink as its feedback tells it: GCC's send-side estimate, and
/// congestion events with the rate packets actually arrived at (see [`DeliveryMonitor`]); and,
/// the other way, where each of its streams last restarted at a keyframe (see
/// [`RetransmitBudget`]). Shared between its interceptor chain and the core; the figures are
/// atomics, the restart points a mutex only a layer switch or a retransmission takes.
#[derive(Debug, Clone, Default)]
pub struct DownlinkEstimate(Arc<DownlinkShared>);

#[derive(Debug, Default)]
struct DownlinkShared {
    estimate_bps: AtomicU64,
    congestion_events: AtomicU64,
    /// At the last congestion event; 0 when it could not be measured.
    delivered_bps: AtomicU64,
    /// Outgoing SSRC → sequence number of the keyframe its current source started with.
    restarts: Mutex<HashMap<u32, u16>>,
}

impl DownlinkEstimate {
    pub fn bits_per_second(&self) -> u64 {
        self.0.estimate_bps.load(Ordering::Relaxed)
    }

    /// How many congestion events there have been: the core reacts when this moves.
    pub fn congestion_events(&self) -> u64 {
        self.0.congestion_events.load(Ordering::Relaxed)
    }

    /// The arrival rate measured at the last congestion event.
    pub fn delivered_bps(&self) -> Option<u64> {
        Some(self.0.delivered_bps.load(Ordering::Relaxed)).filter(|&bps| bps > 0)
    }

    /// The stream `ssrc` restarted at a keyframe with sequence number `seq` (a layer switch or
    /// a new publisher): packets sent before it cannot help its decoder any more.
    pub fn restarted(&self, ssrc: u32, seq: u16) {
        if let Ok(mut restarts) = self.0.restarts.lock() {
            restarts.insert(ssrc, seq);
        }
    }

    /// The stream stopped (its down track went away).
    pub fn forget_stream(&self, ssrc: u32) {
        if let Ok(mut restarts) = self.0.restarts.lock() {
            restarts.remove(&ssrc);
        }
    }

    /// Whether resending `seq` on `ssrc` can still help: not if it was sent before the stream's
    /// last restart (within half the sequence space, the usual RTP window).
    fn worth_repairing(&self, ssrc: u32, seq: u16) -> bool {
        let Ok(restarts) = self.0.restarts.lock() else {
            return true;
        };
        restarts
            .get(&ssrc)
            .is_none_or(|&restart| !seq_before(seq, restart))
    }

    fn set(&self, bps: f64) {
        self.0
            .estimate_bps
            .store(bps.max(0.0) as u64, Ordering::Relaxed);
    }

    fn signal(&self, congestion: Congestion) {
        self.0
            .delivered_bps
            .store(congestion.delivered_bps.unwrap_or(0), Ordering::Relaxed);
        self.0.congestion_events.fetch_add(1, Ordering::Relaxed);
    }
}

/// `a` comes before `b` in RTP sequence order (wrapping, within half the space).
fn seq_before(a: u16, b: u16) -> bool {
    let ahead = b.wrapping_sub(a);
    ahead != 0 && ahead < 0x8000
}

/// Wraps the estimator so every change of its target becomes visible through a
/// [`DownlinkEstimate`], and watches the same feedback for congestion events.
struct EstimateTap<E> {
    inner: E,
    out: DownlinkEstimate,
    monitor: DeliveryMonitor,
}

/// Only packets that carried a transport-wide sequence number can be acknowledged by TWCC
/// feedback (Parley's only kind). webrtc-rs 0.21.1 also reports the others (a stream the
/// subscriber did not negotiate transport-cc on, e.g. GStreamer's audio) as never arrived,
/// which reads as heavy loss and pins the estimate to its floor.
fn acknowledgeable(reports: &[PacketReport]) -> std::borrow::Cow<'_, [PacketReport]> {
    if reports.iter().all(|r| r.is_twcc) {
        std::borrow::Cow::Borrowed(reports)
    } else {
        reports.iter().filter(|r| r.is_twcc).cloned().collect()
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for EstimateTap<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        let reports = &*acknowledgeable(reports);
        if reports.is_empty() {
            return;
        }
        self.inner.on_reports(now, reports);
        let target = self.inner.target_bitrate();
        self.out.set(target);
        for report in reports {
            self.monitor.record(Delivered {
                departure: report.departure,
                size: report.size,
                arrival: report.arrival.filter(|_| report.arrived),
            });
        }
        if let Some(congestion) = self.monitor.check(now, target) {
            self.out.signal(congestion);
        }
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.out.set(self.inner.target_bitrate());
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// The codecs Parley forwards. Payload types match Chromium's usual numbering so publisher and
/// subscriber legs rarely need remapping. No RTX: with RID simulcast webrtc-rs drops repair
/// streams, and without RTX negotiated browsers retransmit on the primary SSRC.
pub fn codecs() -> Vec<(RTCRtpCodecParameters, RtpCodecKind)> {
    let codec =
        |mime: &str, clock_rate, channels, fmtp: &str, payload_type| RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate,
                channels,
                sdp_fmtp_line: fmtp.to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type,
        };
    vec![
        (
            codec(MIME_TYPE_OPUS, 48_000, 2, "minptime=10;useinbandfec=1", 111),
            RtpCodecKind::Audio,
        ),
        (codec(MIME_TYPE_VP8, 90_000, 0, "", 96), RtpCodecKind::Video),
        (
            codec(
                MIME_TYPE_H264,
                90_000,
                0,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                102,
            ),
            RtpCodecKind::Video,
        ),
    ]
}

/// The codec Parley forwards under an rtpmap encoding name (`VP8`, `opus`: case-insensitive,
/// RFC 4855), with its kind.
pub fn codec_named(rtpmap_name: &str) -> Option<(RTCRtpCodec, RtpCodecKind)> {
    codecs().into_iter().find_map(|(c, kind)| {
        let (_, name) = c.rtp_codec.mime_type.split_once('/')?;
        name.eq_ignore_ascii_case(rtpmap_name)
            .then_some((c.rtp_codec, kind))
    })
}

fn media_engine() -> Result<MediaEngine> {
    let mut engine = MediaEngine::default();
    for (codec, kind) in codecs() {
        engine.register_codec(codec, kind)?;
    }
    // Registered now so the publisher leg negotiates it; speaker detection reads it.
    engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    Ok(engine)
}

/// What Parley's own interceptors do to packets passing by; [`Filtered`] supplies the plumbing.
trait PacketFilter: Send + Sync {
    /// Inbound packets (marking them, e.g. for delivery to the application).
    fn on_read(&mut self, _msg: &mut TaggedPacket) {}
    /// Outbound packets; `false` drops the packet.
    fn on_write(&mut self, _msg: &TaggedPacket) -> bool {
        true
    }
}

/// A pass-through interceptor around one [`PacketFilter`].
struct Filtered<F> {
    filter: F,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl<F> Filtered<F> {
    fn new(filter: F) -> Self {
        Self {
            filter,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }
}

impl<F: PacketFilter> Protocol<TaggedPacket, TaggedPacket, ()> for Filtered<F> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<()> {
        self.filter.on_read(&mut msg);
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<()> {
        if self.filter.on_write(&msg) {
            self.writes.push_back(msg);
        }
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<()> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

impl<F: PacketFilter> Interceptor for Filtered<F> {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// Lets keyframe requests (PLI, FIR) from subscribers reach the core so it can relay them to
/// the publisher; everything else stays with webrtc-rs's own interceptors.
struct KeyframeRequestTap;

fn is_keyframe_request(packets: &[Box<dyn rtc::rtcp::Packet>]) -> bool {
    packets.iter().any(|p| {
        let any = p.as_any();
        any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
    })
}

impl PacketFilter for KeyframeRequestTap {
    fn on_read(&mut self, msg: &mut TaggedPacket) {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            if is_keyframe_request(packets) {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
    }
}

/// Caps what NACK repairs may add to a subscriber leg. webrtc-rs's NACK responder resends every
/// requested packet every time it is asked; on a congested link the repeats crowd out the new
/// layer's keyframe and the picture freezes. Retransmissions beyond a share of the downlink
/// estimate are dropped here, wire-ward of the responder (the receiver asks again or, failing
/// that, requests a keyframe). So are repairs of packets sent before their stream's last
/// restart at a keyframe: after a switch down for congestion the receiver still asks for the
/// old layer's losses, which it can no longer use, and their resends would spend the repair
/// share (and the link) the new layer's keyframe needs.
/// After a congestion event the measured arrival rate caps the estimate for a while, because
/// GCC's target lags behind a collapsed link by seconds.
struct RetransmitBudget {
    estimate: DownlinkEstimate,
    /// Bytes that may still be retransmitted, refilled over time.
    tokens: f64,
    last_refill: Option<Instant>,
    /// The congestion event count last seen, and when it moved.
    events_seen: u64,
    last_event: Option<Instant>,
}

impl RetransmitBudget {
    /// Share of the estimate repairs may use, and the burst they may build up to.
    const SHARE: f64 = 0.25;
    const MIN_BPS: f64 = 64_000.0;
    const BURST: Duration = Duration::from_millis(200);
    /// How long a congestion event's arrival rate caps the estimate.
    const EVENT_CAP: Duration = Duration::from_secs(2);

    fn new(estimate: DownlinkEstimate) -> Self {
        Self {
            estimate,
            tokens: 0.0,
            last_refill: None,
            events_seen: 0,
            last_event: None,
        }
    }

    fn downlink_bps(&mut self, now: Instant) -> u64 {
        let estimate = self.estimate.bits_per_second();
        let events = self.estimate.congestion_events();
        if events != self.events_seen {
            self.events_seen = events;
            self.last_event = Some(now);
        }
        let capped = self
            .last_event
            .is_some_and(|at| now.saturating_duration_since(at) < Self::EVENT_CAP);
        match self.estimate.delivered_bps() {
            Some(delivered) if capped => estimate.min(delivered),
            _ => estimate,
        }
    }

    fn allow(&mut self, now: Instant, bytes: usize) -> bool {
        let rate = (self.downlink_bps(now) as f64 * Self::SHARE).max(Self::MIN_BPS) / 8.0;
        let elapsed = self
            .last_refill
            .map_or(Self::BURST, |at| now.saturating_duration_since(at));
        self.last_refill = Some(now);
        self.tokens =
            (self.tokens + rate * elapsed.as_secs_f64()).min(rate * Self::BURST.as_secs_f64());
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

impl PacketFilter for RetransmitBudget {
    fn on_write(&mut self, msg: &TaggedPacket) -> bool {
        if !msg.message.has(&Attribute::Retransmission) {
            return true;
        }
        let bytes = match &msg.message.packet {
            Packet::Rtp(p) => {
                if !self
                    .estimate
                    .worth_repairing(p.header.ssrc, p.header.sequence_number)
                {
                    return false;
                }
                p.header.marshal_size() + p.payload.len()
            }
            _ => 0,
        };
        self.allow(msg.now, bytes)
    }
}

/// Everything a new peer connection needs from the core.
pub struct PeerSetup<'a> {
    pub ice_ufrag: &'a str,
    pub ice_pwd: &'a str,
    /// The host candidates to advertise: each configured public IP on the shared UDP port.
    pub candidates: &'a [SocketAddr],
}

/// Builds a connection. Subscriber legs also get send-side congestion control (GCC fed by the
/// browser's TWCC feedback) whose estimate is returned; there is no pacer: forwarded packets go
/// out as they come, and the layer selection keeps the rate under the estimate.
pub fn build_peer(
    setup: &PeerSetup<'_>,
    sends_media: bool,
    now: Instant,
) -> Result<(RTCPeerConnection, Option<DownlinkEstimate>)> {
    let mut engine = media_engine()?;
    let mut registry = Registry::new().with(Slot::from(14_000), Filtered::new(KeyframeRequestTap));
    let mut estimate = None;
    if sends_media {
        let out = DownlinkEstimate::default();
        out.set(INITIAL_DOWNLINK_BPS);
        let tap = EstimateTap {
            inner: Gcc::new(INITIAL_DOWNLINK_BPS, MIN_DOWNLINK_BPS, MAX_DOWNLINK_BPS),
            out: out.clone(),
            monitor: DeliveryMonitor::default(),
        };
        registry = registry
            .with(
                Slot::CongestionControl,
                CongestionControlBuilder::new(tap).build(),
            )
            .with(Slot::TwccSender, TwccSenderBuilder::new().build())
            // The pacer's slot, which Parley leaves empty: below the NACK responder, so every
            // retransmission passes through the budget.
            .with(
                Slot::Pacer,
                Filtered::new(RetransmitBudget::new(out.clone())),
            );
        estimate = Some(out);
    }
    let registry = register_default_interceptors(registry, &mut engine)?;
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_ice_credentials(setup.ice_ufrag.to_owned(), setup.ice_pwd.to_owned())
        // mDNS would make the connection send multicast queries through the shared socket.
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_answering_dtls_role(RTCDtlsRole::Server)
        // A lite agent keeps the first nominated pair even when the browser moves to another
        // (rtc-ice 0.21.1), then declares the old one dead. The core follows nominations
        // itself and judges liveness from any traffic (see core/mod.rs), so these are off.
        .with_ice_timeouts(Some(Duration::ZERO), Some(Duration::ZERO), None)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings)
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .build(now)?;
    for addr in setup.candidates {
        pc.add_local_candidate(host_candidate(*addr)?)?;
    }
    Ok((pc, estimate))
}

pub fn host_candidate(
    addr: SocketAddr,
) -> Result<rtc::peer_connection::transport::RTCIceCandidateInit> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    RTCIceCandidate::from(&candidate).to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what reaches the wrapped estimator.
    #[derive(Default)]
    struct Seen(Vec<(usize, usize)>);

    impl BandwidthEstimator for Seen {
        fn on_reports(&mut self, _now: Instant, reports: &[PacketReport]) {
            let arrived = reports.iter().filter(|r| r.arrived).count();
            self.0.push((reports.len(), arrived));
        }
        fn target_bitrate(&self) -> f64 {
            1_000_000.0
        }
    }

    #[test]
    #[rustfmt::skip]
    fn reports_without_a_transport_wide_sequence_number_never_reach_the_estimator() {
        let now = Instant::now();
        let report = |id: u64, is_twcc: bool, arrived: bool| PacketReport {
            ssrc: if is_twcc { 1 } else { 2 },
            id,
            rtp_sequence_number: id as u16,
            is_twcc,
            twcc_sequence_number: id as u16,
            size: 1200,
            arrived,
            departure: now,
            arrival: arrived.then(|| Duration::from_millis(id)),
            ecn: rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn::NotEct,
        };
        let mut tap = EstimateTap { inner: Seen::default(), out: DownlinkEstimate::default(), monitor: DeliveryMonitor::default() };
        // (reports in one feedback, what the estimator sees: (reports, arrived))
        type Row = (Vec<PacketReport>, Option<(usize, usize)>);
        let rows: Vec<Row> = vec![
            (vec![report(1, true, true), report(2, true, false)],                          Some((2, 1))),
            // Audio without transport-cc interleaved: "lost" to webrtc-rs, dropped here.
            (vec![report(3, true, true), report(4, false, false), report(5, true, true)],  Some((2, 2))),
            (vec![report(6, false, false)],                                                None),
        ];
        for (i, (reports, expected)) in rows.into_iter().enumerate() {
            let before = tap.inner.0.len();
            tap.on_reports(now, &reports);
            assert_eq!(tap.inner.0.get(before).copied(), expected, "row {i}");
        }
    }

    #[test]
    fn retransmissions_are_held_to_a_share_of_the_estimate() {
        let estimate = DownlinkEstimate::default();
        estimate.set(1_000_000.0); // 25 % = 250 kb/s = 31 250 B/s; burst 200 ms = 6 250 B
        let mut budget = RetransmitBudget::new(estimate.clone());
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // (time ms, bytes, allowed)
        let rows = [
            (0, 1200, true),
            (0, 1200, true),
            (0, 1200, true),
            (0, 1200, true),
            (0, 1200, true),
            (0, 1200, false), // the 200 ms burst (6 250 B) is spent
            (40, 1200, true), // 40 ms refill 1 250 B
            (40, 1200, false),
            (1000, 1200, true), // refilled, but only up to the burst
        ];
        for (i, (ms, bytes, allowed)) in rows.into_iter().enumerate() {
            assert_eq!(budget.allow(at(ms), bytes), allowed, "row {i}");
        }
        // A congestion event measuring 400 kb/s arriving caps repairs at 100 kb/s for 2 s.
        let mut capped = RetransmitBudget::new(estimate.clone());
        estimate.signal(Congestion {
            delivered_bps: Some(400_000),
        });
        let t1 = t0 + Duration::from_secs(10);
        assert!(capped.allow(t1, 2500)); // burst: 100 kb/s × 200 ms = 2 500 B
        assert!(!capped.allow(t1, 1));
        let t2 = t1 + Duration::from_secs(3);
        assert!(
            capped.allow(t2, 6000),
            "the cap lapses: back to 25 % of 1 Mb/s"
        );
        // A collapsed estimate still leaves the floor for repairs.
        estimate.set(0.0);
        let mut starved = RetransmitBudget::new(estimate);
        assert!(starved.allow(t0, 1200));
        assert!(!starved.allow(t0, 1200));
    }

    #[test]
    #[rustfmt::skip]
    fn repairs_stop_at_the_last_restart() {
        let estimate = DownlinkEstimate::default();
        estimate.restarted(7, 100);
        estimate.restarted(9, 3); // restarted just after wrapping
        // (ssrc, seq, still worth repairing)
        let rows = [
            (7, 99,     false), // the old layer's loss
            (7, 30_000, true),  // less than half the space ahead
            (7, 100,    true),  // the keyframe itself
            (7, 101,    true),
            (9, 65_535, false), // before the restart, across the wrap
            (9, 3,      true),
            (8, 5,      true),  // a stream that never restarted
        ];
        for (i, (ssrc, seq, wanted)) in rows.into_iter().enumerate() {
            assert_eq!(estimate.worth_repairing(ssrc, seq), wanted, "row {i}");
        }
        estimate.forget_stream(7);
        assert!(estimate.worth_repairing(7, 99), "a forgotten stream has no restart");
    }
}
