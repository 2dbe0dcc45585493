//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
//! §3.1) built from what a light subscriber counted: each packet's transport-wide sequence number
//! and arrival time. Arrivals are kept in a vector reused from one feedback to the next, so the
//! receive path does not allocate; a feedback reports every sequence number from the end of the
//! previous one to the highest seen, the missing ones as not received.

use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk,
    SymbolSizeTypeTcc, SymbolTypeTcc, TransportLayerCc,
};

/// Receive deltas count in 250 µs; the reference time in 64 ms.
const DELTA_TICK_US: i64 = 250;
const REFERENCE_TICK_US: i64 = 64_000;
/// At most this many sequence numbers per feedback; older arrivals are dropped (a subscriber
/// that stalled for that long has nothing useful to say about them).
const MAX_STATUS: i64 = 4096;
/// A run-length chunk holds up to 2^13 - 1 symbols; a two-bit status vector 7.
const MAX_RUN: usize = 0x1fff;
const VECTOR_SYMBOLS: usize = 7;

/// Arrivals since the last feedback, and where the next one starts.
#[derive(Debug, Default)]
pub struct TwccRecorder {
    /// (unwrapped transport-wide seq, arrival in µs on the subscriber's clock).
    arrivals: Vec<(i64, i64)>,
    symbols: Vec<SymbolTypeTcc>,
    last_unwrapped: Option<i64>,
    /// The first sequence number the next feedback reports.
    next_base: Option<i64>,
    fb_pkt_count: u8,
    pub media_ssrc: u32,
}

impl TwccRecorder {
    /// A packet with transport-wide sequence number `seq` arrived at `arrival_us`.
    pub fn record(&mut self, media_ssrc: u32, seq: u16, arrival_us: i64) {
        let unwrapped = match self.last_unwrapped {
            None => i64::from(seq),
            Some(last) => last + i64::from(seq.wrapping_sub(last as u16) as i16),
        };
        self.last_unwrapped = Some(self.last_unwrapped.map_or(unwrapped, |l| l.max(unwrapped)));
        if self.next_base.is_some_and(|base| unwrapped < base) {
            return; // already reported as lost
        }
        self.media_ssrc = media_ssrc;
        self.arrivals.push((unwrapped, arrival_us));
    }

    /// The feedback for every arrival since the last one (`None` when nothing arrived).
    pub fn build(&mut self, sender_ssrc: u32) -> Option<TransportLayerCc> {
        self.arrivals.sort_unstable_by_key(|&(seq, _)| seq);
        self.arrivals.dedup_by_key(|&mut (seq, _)| seq);
        let (&(first, _), &(end, _)) = (self.arrivals.first()?, self.arrivals.last()?);
        let mut base = self.next_base.map_or(first, |b| b.min(first));
        if end - base >= MAX_STATUS {
            base = end - MAX_STATUS + 1;
            self.arrivals.retain(|&(seq, _)| seq >= base);
        }
        let earliest = self.arrivals.iter().map(|&(_, at)| at).min()?;
        let reference = earliest.max(0) / REFERENCE_TICK_US;
        let mut last_tick = reference * (REFERENCE_TICK_US / DELTA_TICK_US);
        let mut recv_deltas = Vec::with_capacity(self.arrivals.len());
        self.symbols.clear();
        let mut arrivals = self.arrivals.iter().peekable();
        for seq in base..=end {
            let Some(&(_, at)) = arrivals.next_if(|&&(s, _)| s == seq) else {
                self.symbols.push(SymbolTypeTcc::PacketNotReceived);
                continue;
            };
            let tick = at / DELTA_TICK_US;
            let delta = (tick - last_tick).clamp(i64::from(i16::MIN), i64::from(i16::MAX));
            last_tick += delta;
            let symbol = if (0..=255).contains(&delta) {
                SymbolTypeTcc::PacketReceivedSmallDelta
            } else {
                SymbolTypeTcc::PacketReceivedLargeDelta
            };
            self.symbols.push(symbol);
            recv_deltas.push(RecvDelta {
                type_tcc_packet: symbol,
                delta: delta * DELTA_TICK_US,
            });
        }
        let feedback = TransportLayerCc {
            sender_ssrc,
            media_ssrc: self.media_ssrc,
            base_sequence_number: base as u16,
            packet_status_count: (end - base + 1) as u16,
            reference_time: (reference & 0xff_ffff) as u32,
            fb_pkt_count: self.fb_pkt_count,
            packet_chunks: chunks(&self.symbols),
            recv_deltas,
        };
        self.fb_pkt_count = self.fb_pkt_count.wrapping_add(1);
        self.next_base = Some(end + 1);
        self.arrivals.clear();
        Some(feedback)
    }
}

/// Run-length chunks for runs of 7 or more (and for the tail), two-bit vectors otherwise, so
/// no chunk carries a symbol past the status count.
fn chunks(symbols: &[SymbolTypeTcc]) -> Vec<PacketStatusChunk> {
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < symbols.len() {
        let symbol = symbols[i];
        let run = symbols[i..]
            .iter()
            .take(MAX_RUN)
            .take_while(|&&s| s == symbol)
            .count();
        if run >= VECTOR_SYMBOLS || symbols.len() - i < VECTOR_SYMBOLS {
            chunks.push(PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                packet_status_symbol: symbol,
                run_length: run as u16,
            }));
            i += run;
        } else {
            chunks.push(PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
                type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
                symbol_size: SymbolSizeTypeTcc::TwoBit,
                symbol_list: symbols[i..i + VECTOR_SYMBOLS].to_vec(),
            }));
            i += VECTOR_SYMBOLS;
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::convert_twcc;
    use rtc::shared::marshal::{Marshal, Unmarshal};

    /// What the server's congestion control reads of a feedback after it crossed the wire:
    /// (seq, arrival µs relative to the first arrival) per reported packet, `None` if lost.
    fn on_the_wire(feedback: &TransportLayerCc) -> Vec<(u16, Option<i64>)> {
        let bytes = feedback.marshal().expect("marshal");
        let parsed = TransportLayerCc::unmarshal(&mut bytes.clone()).expect("unmarshal");
        let acks = convert_twcc(&parsed);
        let first = acks.iter().find_map(|a| a.arrival).expect("an arrival");
        acks.iter()
            .map(|a| {
                let at = a.arrival.map(|t| (t - first).as_micros() as i64);
                (a.sequence_number, at.filter(|_| a.arrived))
            })
            .collect()
    }

    #[test]
    fn reports_arrivals_and_losses_in_sequence_order() {
        let mut recorder = TwccRecorder::default();
        let t0 = 1_000_000; // µs
        for (seq, at) in [
            (100, 0),
            (101, 1_000),
            (103, 2_500),
            (102, 2_000),
            (104, 90_000),
        ] {
            recorder.record(5, seq, t0 + at);
        }
        let feedback = recorder.build(1).expect("feedback");
        assert_eq!(
            (
                feedback.base_sequence_number,
                feedback.packet_status_count,
                feedback.media_ssrc
            ),
            (100, 5, 5)
        );
        assert_eq!(
            on_the_wire(&feedback),
            [
                (100, Some(0)),
                (101, Some(1_000)),
                (102, Some(2_000)),
                (103, Some(2_500)),
                (104, Some(90_000)), // a large delta
            ]
        );
        // The next feedback starts where this one ended: 105 and 106 lost, 107 arrived.
        recorder.record(5, 107, t0 + 100_000);
        recorder.record(5, 99, t0 + 100_000); // too late: already reported
        let next = recorder.build(1).expect("feedback");
        assert_eq!((next.base_sequence_number, next.fb_pkt_count), (105, 1));
        assert_eq!(
            on_the_wire(&next),
            [(105, None), (106, None), (107, Some(0))]
        );
        assert!(recorder.build(1).is_none(), "nothing new");
    }

    #[test]
    fn long_runs_and_wraps() {
        let mut recorder = TwccRecorder::default();
        let mut seq = 65_500u16;
        for i in 0..100 {
            recorder.record(1, seq, i * 500);
            seq = seq.wrapping_add(1);
        }
        seq = seq.wrapping_add(20); // 20 lost
        recorder.record(1, seq, 50_000);
        let feedback = recorder.build(1).expect("feedback");
        let wire = on_the_wire(&feedback);
        assert_eq!(wire.len(), 121);
        assert_eq!(wire.iter().filter(|(_, at)| at.is_none()).count(), 20);
        assert_eq!(wire[99], (65_500u16.wrapping_add(99), Some(99 * 500)));
        assert_eq!(wire[120], (seq, Some(50_000)));
        assert!(
            feedback.packet_chunks.len() < 10,
            "runs are run-length coded: {:?}",
            feedback.packet_chunks
        );
    }

    #[test]
    fn a_long_stall_is_cut_to_the_last_sequence_numbers() {
        let mut recorder = TwccRecorder::default();
        recorder.record(1, 0, 0);
        recorder.record(1, 10_000, 1_000);
        let feedback = recorder.build(1).expect("feedback");
        assert_eq!(feedback.packet_status_count as i64, MAX_STATUS);
        assert_eq!(on_the_wire(&feedback).last(), Some(&(10_000, Some(0))));
    }
}
