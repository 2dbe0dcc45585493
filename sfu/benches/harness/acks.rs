//! What a client's peer connection learns from the server's receiver reports: which of its
//! SSRCs the server acknowledged. Chromium stops sending the MID and RID header extensions on a
//! stream once a report block names it; simulcast publishers in these tests do the same.

use rtc::interceptor::{Packet, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use sfu::peer::{Filtered, PacketFilter};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// SSRCs a report block has named, shared with the test.
pub type Acked = Arc<Mutex<HashSet<u32>>>;

/// Records the SSRCs of the report blocks a connection reads (put it next to the wire).
pub struct AckTap(pub Acked);

impl AckTap {
    pub fn interceptor(acked: &Acked) -> Filtered<Self> {
        Filtered::new(Self(acked.clone()))
    }
}

impl PacketFilter for AckTap {
    fn on_read(&mut self, msg: &mut TaggedPacket) {
        let Packet::Rtcp(packets) = &msg.message.packet else {
            return;
        };
        let mut acked = self.0.lock().unwrap();
        for rr in packets
            .iter()
            .filter_map(|p| p.as_any().downcast_ref::<ReceiverReport>())
        {
            acked.extend(rr.reports.iter().map(|b| b.ssrc));
        }
    }
}
