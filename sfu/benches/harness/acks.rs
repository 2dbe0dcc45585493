//! What a client's peer connection learns from the server's receiver reports: which of its
//! SSRCs the server acknowledged. Chromium stops sending the MID and RID header extensions on a
//! stream once a report block names it; simulcast publishers in these tests do the same.

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::sansio::Protocol;
use rtc::shared::error::{Error, Result};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// SSRCs a report block has named, shared with the test.
pub type Acked = Arc<Mutex<HashSet<u32>>>;

/// A pass-through interceptor next to the wire that records the SSRCs of report blocks read.
pub struct AckTap {
    pub acked: Acked,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl AckTap {
    pub fn new(acked: Acked) -> Self {
        Self {
            acked,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for AckTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<()> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let mut acked = self.acked.lock().unwrap();
            for rr in packets
                .iter()
                .filter_map(|p| p.as_any().downcast_ref::<ReceiverReport>())
            {
                acked.extend(rr.reports.iter().map(|b| b.ssrc));
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<()> {
        self.writes.push_back(msg);
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

impl Interceptor for AckTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
