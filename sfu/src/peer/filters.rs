//! Parley's own interceptors in each connection's chain: the keyframe-request tap and the
//! retransmission budget, on a small pass-through wrapper (the report filter is `reports.rs`).

use super::estimate::DownlinkEstimate;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use rtc::shared::error::{Error, Result};
use rtc::shared::marshal::MarshalSize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What Parley's own interceptors do to packets passing by; [`Filtered`] supplies the plumbing.
/// Public so test clients can tap their own connections the same way.
pub trait PacketFilter: Send + Sync {
    /// Inbound packets (marking them, e.g. for delivery to the application).
    fn on_read(&mut self, _msg: &mut TaggedPacket) {}
    /// Outbound packets (trimming them); `false` drops the packet.
    fn on_write(&mut self, _msg: &mut TaggedPacket) -> bool {
        true
    }
    /// A remote stream was bound (its first packet is about to be read).
    fn on_bind_remote(&mut self, _info: &StreamInfo) {}
}

/// A pass-through interceptor around one [`PacketFilter`].
pub struct Filtered<F> {
    filter: F,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl<F> Filtered<F> {
    pub fn new(filter: F) -> Self {
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

    fn handle_write(&mut self, mut msg: TaggedPacket) -> Result<()> {
        if self.filter.on_write(&mut msg) {
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
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.filter.on_bind_remote(info);
    }
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// Lets keyframe requests (PLI, FIR) from subscribers reach the core so it can relay them to
/// the publisher; everything else stays with webrtc-rs's own interceptors.
pub(super) struct KeyframeRequestTap;

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
pub(super) struct RetransmitBudget {
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

    pub(super) fn new(estimate: DownlinkEstimate) -> Self {
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
    fn on_write(&mut self, msg: &mut TaggedPacket) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Congestion;

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
}
