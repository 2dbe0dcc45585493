//! How Parley configures each webrtc-rs `rtc` peer connection: codecs, header extensions,
//! interceptors, ICE-lite with server-chosen credentials, host candidates on the shared port.
//! Everything that would otherwise differ silently between the publisher and subscriber legs
//! lives here, so both legs negotiate the same payload types.

mod estimate;
mod filters;
mod reports;

pub use estimate::DownlinkEstimate;
pub use filters::{Filtered, PacketFilter};

use crate::delivery::DeliveryMonitor;
use crate::flow::Transport;
use estimate::EstimateTap;
use filters::{KeyframeRequestTap, RetransmitBudget};
use reports::QuietStreamReports;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::tcp_type::TcpType;
use rtc::interceptor::{
    CongestionControlBuilder, Gcc, NackGeneratorBuilder, NackResponderBuilder, Registry,
    SenderReportBuilder, Slot, TwccSenderBuilder,
};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability,
    RtpCodecKind, TYPE_RTCP_FB_NACK, TYPE_RTCP_FB_TRANSPORT_CC,
};
use rtc::sdp::extmap::TRANSPORT_CC_URI;
use rtc::shared::error::Result;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where a subscriber's estimate starts: enough for the middle layer, not the top one, so a
/// new subscriber climbs as the estimate proves the path (switch up slowly, down fast).
pub const INITIAL_DOWNLINK_BPS: f64 = 1_000_000.0;
pub const MIN_DOWNLINK_BPS: f64 = 100_000.0;
pub const MAX_DOWNLINK_BPS: f64 = 20_000_000.0;

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

/// Packets of each forwarded video stream a subscriber leg keeps to answer NACKs with
/// (webrtc-rs keeps 1,024). A repair helps only within about a round trip or two of the loss:
/// later, the receiver has asked for a keyframe (and [`RetransmitBudget`] drops repairs from
/// before a restart anyway). 512 packets is over a second of the top layer up to 4.5 Mbit/s of
/// 1,200-byte packets (375 packets/s), and several seconds of the lower layers. Every slot
/// holds a forwarded packet's header and payload (its own copy once the VP8 descriptor is
/// rewritten), so this is most of a subscriber connection's memory.
pub const NACK_HISTORY: u16 = 512;
// webrtc-rs keeps no history at all (so answers no NACK) unless the size is a power of two.
const _: () = assert!(NACK_HISTORY.is_power_of_two());

/// webrtc-rs's standard interceptors, as each kind of leg needs them (NACK history above).
/// Both kinds negotiate NACK, PLI and transport-cc and carry the simulcast header extensions.
/// A leg that receives media (a publisher's) generates NACKs, transport-cc feedback and receiver
/// reports (and keeps the rest as before). A leg that only sends (a subscriber's, a viewer's)
/// answers NACKs and sends sender reports, nothing else: every interceptor in the chain is a
/// hop each forwarded packet takes (a queue push and pop of the whole packet), and the
/// generators of NACKs, feedback and receiver reports would only watch for media that never
/// comes to such a leg.
fn standard_interceptors(
    registry: Registry,
    engine: &mut MediaEngine,
    sends_media: bool,
) -> Result<Registry> {
    for parameter in ["", "pli"] {
        engine.register_feedback(
            RTCPFeedback {
                typ: TYPE_RTCP_FB_NACK.to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(engine)?;
    let registry = registry.with(
        Slot::NackResponder,
        NackResponderBuilder::new().with_size(NACK_HISTORY).build(),
    );
    if sends_media {
        negotiate_transport_cc(engine)?;
        return Ok(registry.with(Slot::SenderReport, SenderReportBuilder::new().build()));
    }
    let registry = registry.with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
    let registry = configure_twcc_receiver_only(registry, engine)?;
    Ok(configure_rtcp_reports(registry))
}

/// What `configure_twcc_receiver_only` negotiates (the transport-cc header extension and
/// feedback, audio and video), without its feedback generator.
fn negotiate_transport_cc(engine: &mut MediaEngine) -> Result<()> {
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        engine.register_feedback(
            RTCPFeedback {
                typ: TYPE_RTCP_FB_TRANSPORT_CC.to_owned(),
                ..Default::default()
            },
            kind,
        );
        engine.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: TRANSPORT_CC_URI.to_owned(),
            },
            kind,
            None,
        )?;
    }
    Ok(())
}

/// A connection's interceptor chain: Parley's own (keyframe requests seen; on a receiving leg
/// no reports about RID layers; on a sending leg GCC over transport-cc with its estimate, and
/// the retransmission budget) around webrtc-rs's standard ones.
fn interceptors(
    engine: &mut MediaEngine,
    sends_media: bool,
) -> Result<(Registry, Option<DownlinkEstimate>)> {
    let registry = Registry::new().with(Slot::from(14_000), Filtered::new(KeyframeRequestTap));
    if !sends_media {
        // Between the receiver-report generator (10_000) and the wire.
        let quiet = Filtered::new(QuietStreamReports::default());
        let registry = registry.with(Slot::from(9_000), quiet);
        return Ok((standard_interceptors(registry, engine, false)?, None));
    }
    let out = DownlinkEstimate::default();
    out.set(INITIAL_DOWNLINK_BPS);
    let tap = EstimateTap {
        inner: Gcc::new(INITIAL_DOWNLINK_BPS, MIN_DOWNLINK_BPS, MAX_DOWNLINK_BPS),
        out: out.clone(),
        monitor: DeliveryMonitor::default(),
    };
    let registry = registry
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
    Ok((standard_interceptors(registry, engine, true)?, Some(out)))
}

/// Everything a new peer connection needs from the core.
pub struct PeerSetup<'a> {
    /// The host candidates to advertise: each configured public IP on the shared UDP port.
    pub candidates: &'a [SocketAddr],
    /// Passive ICE-TCP host candidates: each public IP on the TCP port (empty: ICE-TCP off).
    pub tcp_candidates: &'a [SocketAddr],
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
    let (registry, estimate) = interceptors(&mut engine, sends_media)?;
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        // No fixed ICE credentials: the agent draws its own (16 letters, 32 characters of
        // password) and new ones at each ICE restart, which fixed ones would prevent
        // (rtc 0.21.1 restarts with the setting engine's); the core claims each new ufrag.
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
    let udp = setup.candidates.iter().map(|a| (*a, Transport::Udp));
    let tcp = setup.tcp_candidates.iter().map(|a| (*a, Transport::Tcp));
    for (addr, transport) in udp.chain(tcp) {
        pc.add_local_candidate(host_candidate(addr, transport)?)?;
    }
    Ok((pc, estimate))
}

/// A host candidate on `addr`: UDP, or passive ICE-TCP (RFC 6544: the client connects to it;
/// its priority is below UDP's, so clients that can use UDP do).
pub fn host_candidate(
    addr: SocketAddr,
    transport: Transport,
) -> Result<rtc::peer_connection::transport::RTCIceCandidateInit> {
    let (network, tcp_type) = match transport {
        Transport::Udp => ("udp", TcpType::Unspecified),
        Transport::Tcp => ("tcp", TcpType::Passive),
    };
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: network.to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        tcp_type,
    }
    .new_candidate_host()?;
    RTCIceCandidate::from(&candidate).to_json()
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    /// The chain of each kind of leg, wire to application, by interceptor type.
    fn chain(sends_media: bool) -> Vec<String> {
        let mut engine = media_engine().unwrap();
        let (registry, _) = interceptors(&mut engine, sends_media).unwrap();
        registry.slots().into_iter().map(|(_, name)| name).collect()
    }

    #[test]
    #[rustfmt::skip]
    fn each_leg_carries_only_the_interceptors_it_uses() {
        let rows: [(bool, &str, bool); 10] = [
            // (sends media, interceptor, in the chain)
            (true,  "NackResponder",     true),
            (true,  "SenderReport",      true),
            (true,  "TwccSender",        true),
            (true,  "NackGenerator",     false),
            (true,  "TwccReceiver",      false),
            (true,  "ReceiverReport",    false),
            (false, "NackGenerator",     true),
            (false, "TwccReceiver",      true),
            (false, "ReceiverReport",    true),
            (false, "TwccSender",        false),
        ];
        for (sends_media, interceptor, present) in rows {
            let names = chain(sends_media);
            let found = names.iter().any(|n| n.contains(interceptor));
            assert_eq!(found, present, "sends media {sends_media}, {interceptor}: {names:?}");
        }
    }
}
