//! The sans-I/O `rtc` peer connection behind each light subscriber: the same codecs, header
//! extensions and RTCP feedback a browser (and the full synthetic client) answers with, but no
//! interceptors, since RTP never reaches it. It does ICE, DTLS and SRTCP; the light worker owns
//! the socket, hands it STUN, DTLS and RTCP datagrams, and writes the RTCP it builds through it
//! so it goes out SRTCP-protected under the keys DTLS derived.

use super::tcp::LightTransport;
use super::LightError;
use crate::client::{codecs, AUDIO_LEVEL_URI};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::tcp_type::TcpType;
use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::interceptor_registry::configure_simulcast_extension_headers;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sdp::extmap::TRANSPORT_CC_URI;
use std::net::SocketAddr;
use std::time::Instant;

fn media_engine() -> Result<MediaEngine, rtc::shared::error::Error> {
    let mut engine = MediaEngine::default();
    for (codec, kind) in codecs() {
        engine.register_codec(codec, kind)?;
    }
    let extension = |uri: &str| RTCRtpHeaderExtensionCapability {
        uri: uri.to_owned(),
    };
    engine.register_header_extension(extension(AUDIO_LEVEL_URI), RtpCodecKind::Audio, None)?;
    configure_simulcast_extension_headers(&mut engine)?;
    // What `configure_twcc_receiver_only` registers, without its interceptor: the feedback is
    // built by the worker from the packets it counts.
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        engine.register_feedback(
            RTCPFeedback {
                typ: "transport-cc".to_owned(),
                parameter: String::new(),
            },
            kind,
        );
        engine.register_header_extension(extension(TRANSPORT_CC_URI), kind, None)?;
    }
    Ok(engine)
}

/// A connection that answers from `local` (the subscriber's socket, advertised as its one host
/// candidate), or over ICE-TCP from an active TCP candidate on `local`'s address (its port is
/// the placeholder 9, RFC 6544: the connection's own port is known only once it is open).
pub fn build(
    local: SocketAddr,
    transport: LightTransport,
    now: Instant,
) -> Result<RTCPeerConnection, LightError> {
    let settings = SettingEngineBuilder::new()
        // mDNS queries would go out through the subscriber's socket.
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings)
        .with_media_engine(media_engine()?)
        .with_interceptor_registry(Registry::new())
        .build(now)?;
    let (network, port, tcp_type) = match transport {
        LightTransport::Udp => ("udp", local.port(), TcpType::Unspecified),
        LightTransport::Tcp => ("tcp", 9, TcpType::Active),
    };
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: network.to_owned(),
            address: local.ip().to_string(),
            port,
            component: 1,
            ..Default::default()
        },
        tcp_type,
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
    Ok(pc)
}

/// Applies the server's offer and returns the answer, with the transport-cc extension id it
/// negotiated (if the offer had one).
pub fn answer(
    pc: &mut RTCPeerConnection,
    now: Instant,
    offer: String,
) -> Result<(String, Option<u8>), LightError> {
    pc.set_remote_description(now, RTCSessionDescription::offer(offer)?)?;
    let answer = pc.create_answer(None)?;
    pc.set_local_description(now, answer)?;
    let sdp = pc
        .local_description()
        .map(|d| d.sdp)
        .ok_or(LightError::Negotiation("no local answer"))?;
    let twcc_id = extmap_id(&sdp, TRANSPORT_CC_URI);
    Ok((sdp, twcc_id))
}

/// The id of header extension `uri` in an SDP (`a=extmap:<id>[/<direction>] <uri>`).
pub fn extmap_id(sdp: &str, uri: &str) -> Option<u8> {
    sdp.lines().find_map(|line| {
        let mut words = line
            .trim_end()
            .strip_prefix("a=extmap:")?
            .split_whitespace();
        let id = words.next()?;
        (words.next()? == uri)
            .then(|| id.split('/').next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn extension_ids_from_sdp() {
        let cc = TRANSPORT_CC_URI;
        let sdp = format!("v=0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:5/sendrecv {cc}\r\n");
        let cases: &[(&str, &str, Option<u8>)] = &[
            (&sdp,                                     cc,                   Some(5)),
            (&sdp,                                     "urn:ietf:params:rtp-hdrext:sdes:mid", Some(1)),
            (&sdp,                                     AUDIO_LEVEL_URI,      None),
            (&format!("a=extmap:x {cc}\r\n"),          cc,                   None),
            (&format!("a=extmap:300 {cc}\r\n"),        cc,                   None),
            ("",                                       cc,                   None),
        ];
        for &(sdp, uri, expected) in cases {
            assert_eq!(extmap_id(sdp, uri), expected, "{sdp:?} {uri}");
        }
    }

    #[test]
    fn answers_with_transport_cc() {
        let now = Instant::now();
        let local = "127.0.0.1:40000".parse().unwrap();
        let udp = LightTransport::Udp;
        let mut server = build("127.0.0.1:40001".parse().unwrap(), udp, now).unwrap();
        server
            .add_transceiver_from_kind(RtpCodecKind::Video, None)
            .unwrap();
        let offer = server.create_offer(None).unwrap();
        server.set_local_description(now, offer).unwrap();
        let offer = server.local_description().unwrap().sdp;
        let mut pc = build(local, udp, now).unwrap();
        let (answer, twcc_id) = answer(&mut pc, now, offer.clone()).unwrap();
        assert_eq!(twcc_id, extmap_id(&offer, TRANSPORT_CC_URI));
        assert!(twcc_id.is_some(), "{answer}");
        assert!(answer.contains("transport-cc"), "{answer}");
        assert!(answer.contains("127.0.0.1 40000"), "{answer}");
    }
}
