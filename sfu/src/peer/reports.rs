//! Which receiver reports reach a client, wire-ward of webrtc-rs's report generator.
//!
//! - Only streams heard since their last report are reported (RFC 3550 6.4). webrtc-rs reports
//!   every stream it ever received, every second; a simulcast layer paused because nobody
//!   watches it keeps being reported with the jitter of its last packets (seen: 470-530 ms),
//!   which a browser shows as this connection's quality.
//! - Streams that name their simulcast layer by RID (no SSRC in the SDP) are never reported.
//!   A browser keeps sending the MID and RID header extensions on a stream until a report block
//!   acknowledges its SSRC (libwebrtc stops then); webrtc-rs binds such streams anew from their
//!   RIDs after every remote description, so without the RIDs a renegotiated simulcast camera
//!   (a new offer, an ICE restart) would stop arriving. Measured with Chromium: with reports its
//!   layers arrive with only transport-cc after a few seconds, and after an ICE restart the
//!   subscriber decodes nothing more; without, MID and RID stay and every layer keeps flowing.
//!   The browser's congestion control runs on transport-wide feedback, which is unaffected;
//!   it loses report-based statistics for those layers (`remote-inbound-rtp`), so upstream
//!   loss and jitter are judged from its other streams' reports (the microphone's).

use super::filters::PacketFilter;
use rtc::interceptor::{Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::sdp::extmap::SDES_RTP_STREAM_ID_URI;
use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub(super) struct QuietStreamReports {
    /// SSRC → extended highest sequence number of the last report that went out.
    last: HashMap<u32, u32>,
    /// Streams just bound whose m-line negotiated the RID extension: SSRC → the extension's
    /// id, until their first packet shows whether they carry one.
    rid_ext: HashMap<u32, u8>,
    /// Streams whose packets name their layer by RID: never reported.
    by_rid: HashSet<u32>,
}

impl PacketFilter for QuietStreamReports {
    fn on_bind_remote(&mut self, info: &StreamInfo) {
        let rid = info
            .rtp_header_extensions
            .iter()
            .find(|e| e.uri == SDES_RTP_STREAM_ID_URI)
            .and_then(|e| u8::try_from(e.id).ok());
        if let Some(id) = rid {
            self.rid_ext.insert(info.ssrc, id);
        }
    }

    fn on_read(&mut self, msg: &mut TaggedPacket) {
        if self.rid_ext.is_empty() {
            return;
        }
        let Packet::Rtp(packet) = &msg.message.packet else {
            return;
        };
        let ssrc = packet.header.ssrc;
        if let Some(id) = self.rid_ext.remove(&ssrc) {
            if packet.header.get_extension(id).is_some() {
                self.by_rid.insert(ssrc);
            }
        }
    }

    fn on_write(&mut self, msg: &mut TaggedPacket) -> bool {
        let Packet::Rtcp(packets) = &mut msg.message.packet else {
            return true;
        };
        if !self.by_rid.is_empty() {
            for packet in packets.iter_mut() {
                let Some(rr) = packet.as_any().downcast_ref::<ReceiverReport>() else {
                    continue;
                };
                if rr.reports.iter().any(|b| self.by_rid.contains(&b.ssrc)) {
                    let mut kept = rr.clone();
                    kept.reports.retain(|b| !self.by_rid.contains(&b.ssrc));
                    *packet = Box::new(kept);
                }
            }
        }
        let mut blocks = 0;
        let mut heard = false;
        for packet in packets.iter() {
            let Some(rr) = packet.as_any().downcast_ref::<ReceiverReport>() else {
                return true; // anything else goes, and what travels with it
            };
            for block in &rr.reports {
                blocks += 1;
                let before = self.last.insert(block.ssrc, block.last_sequence_number);
                heard |= before != Some(block.last_sequence_number);
            }
        }
        blocks == 0 || heard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::{AttributedPacket, RTPHeaderExtension};
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::shared::TransportContext;
    use std::time::Instant;

    fn tagged(packet: Packet) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::new(packet),
        }
    }

    #[rustfmt::skip]
    fn report(blocks: &[(u32, u32)]) -> TaggedPacket {
        tagged(Packet::Rtcp(vec![Box::new(ReceiverReport {
            reports: blocks
                .iter()
                .map(|&(ssrc, last_sequence_number)| ReceptionReport { ssrc, last_sequence_number, ..Default::default() })
                .collect(),
            ..Default::default()
        })]))
    }

    /// The SSRCs of the report blocks in a packet that went out.
    fn reported(msg: &TaggedPacket) -> Vec<u32> {
        let Packet::Rtcp(packets) = &msg.message.packet else {
            return Vec::new();
        };
        packets
            .iter()
            .filter_map(|p| p.as_any().downcast_ref::<ReceiverReport>())
            .flat_map(|rr| rr.reports.iter().map(|b| b.ssrc))
            .collect()
    }

    #[test]
    #[rustfmt::skip]
    fn reports_go_out_only_for_streams_heard_since_the_last() {
        let mut filter = QuietStreamReports::default();
        // (report blocks: (ssrc, highest sequence number), goes out)
        let rows: [(&[(u32, u32)], bool); 7] = [
            (&[(1, 100)],           true),  // first report of a stream
            (&[(2, 50)],            true),
            (&[(1, 130)],           true),  // packets since
            (&[(2, 50)],            false), // paused layer: nothing since
            (&[(2, 50)],            false),
            (&[(2, 50), (1, 160)],  true),  // one block heard is enough for the packet
            (&[(2, 51)],            true),  // the layer resumed
        ];
        for (i, (blocks, out)) in rows.into_iter().enumerate() {
            assert_eq!(filter.on_write(&mut report(blocks)), out, "row {i}");
        }
        // Other RTCP (here a PLI) and reports without blocks go as they are.
        let mut pli = tagged(Packet::Rtcp(vec![Box::new(PictureLossIndication::default())]));
        assert!(filter.on_write(&mut pli));
        assert!(filter.on_write(&mut report(&[])));
    }

    #[test]
    fn streams_named_by_rid_are_never_reported() {
        let mut filter = QuietStreamReports::default();
        let rid_id = 10;
        let bind = |ssrc| StreamInfo {
            ssrc,
            rtp_header_extensions: vec![RTPHeaderExtension {
                uri: SDES_RTP_STREAM_ID_URI.to_owned(),
                id: u16::from(rid_id),
            }],
            ..Default::default()
        };
        let packet = |ssrc, rid: Option<&str>| {
            let mut p = rtc::rtp::Packet::default();
            p.header.ssrc = ssrc;
            if let Some(rid) = rid {
                p.header
                    .set_extension(rid_id, bytes::Bytes::from(rid.to_owned()))
                    .unwrap();
            }
            tagged(Packet::Rtp(p))
        };
        // 7: a simulcast layer named by RID; 8: a stream declared by SSRC (no RID on the
        // wire); 9: audio, whose m-line has no RID extension.
        filter.on_bind_remote(&bind(7));
        filter.on_bind_remote(&bind(8));
        filter.on_bind_remote(&StreamInfo {
            ssrc: 9,
            ..Default::default()
        });
        filter.on_read(&mut packet(7, Some("q")));
        filter.on_read(&mut packet(8, None));
        filter.on_read(&mut packet(9, None));
        let mut out = report(&[(7, 100), (8, 100), (9, 100)]);
        assert!(filter.on_write(&mut out));
        assert_eq!(reported(&out), vec![8, 9]);
        // A report about the RID layer alone goes out without blocks.
        let mut only = report(&[(7, 200)]);
        assert!(filter.on_write(&mut only));
        assert_eq!(reported(&only), Vec::<u32>::new());
    }
}
