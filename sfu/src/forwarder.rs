//! Per (subscriber, track) header rewriting: the publisher's stream becomes the subscriber's own
//! stream with its own SSRC, the payload type the subscriber negotiated, and sequence numbers and
//! timestamps that start at the subscriber's random origin and stay contiguous. Header
//! extensions are stripped: their ids are the publisher's, not the subscriber's.
//!
//! Video starts only at a keyframe (a decoder cannot start anywhere else); packets before it are
//! dropped without consuming output sequence numbers, so the subscriber sees no loss.
//! The source can be switched (another publisher, later a simulcast layer): the next packet of
//! the new source (a keyframe, for video) is re-anchored one sequence number after the last one
//! sent, and its timestamp advanced by the wall-clock time since, so the subscriber's decoder
//! and jitter buffer see one continuous stream.

use crate::rooms::MediaKind;
use rtc::rtp::header::Header;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Forward,
    /// Video before the first keyframe: the caller should make sure a keyframe was requested.
    WaitingForKeyframe,
    /// The subscriber has not negotiated a payload type for this codec yet.
    NotNegotiated,
    /// Older than where this subscription started (late or reordered packet).
    BeforeStart,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// Extended (unwrapped) input sequence number of the first forwarded packet.
    first_in_ext: i64,
    highest_in_ext: i64,
    highest_in: u16,
    seq_offset: u16,
    ts_offset: u32,
}

/// The newest packet sent: where a re-anchored source continues from.
#[derive(Debug, Clone, Copy)]
struct LastSent {
    seq: u16,
    ts: u32,
    at: Instant,
}

#[derive(Debug, Clone)]
pub struct Forwarder {
    kind: MediaKind,
    clock_rate: u32,
    out_ssrc: u32,
    out_payload_type: Option<u8>,
    initial_seq: u16,
    initial_ts: u32,
    anchor: Option<Anchor>,
    last_sent: Option<LastSent>,
}

impl Forwarder {
    /// `initial_seq`/`initial_ts` are the subscriber stream's origin (random in production,
    /// RFC 3550 §5.1).
    pub fn new(
        kind: MediaKind,
        clock_rate: u32,
        out_ssrc: u32,
        initial_seq: u16,
        initial_ts: u32,
    ) -> Self {
        Self {
            kind,
            clock_rate,
            out_ssrc,
            out_payload_type: None,
            initial_seq,
            initial_ts,
            anchor: None,
            last_sent: None,
        }
    }

    /// From the next packet on, input comes from a different stream (its own sequence numbers
    /// and timestamps). Video waits for that stream's keyframe.
    pub fn switch_source(&mut self) {
        self.anchor = None;
    }

    /// The sequence number the next forwarded packet will carry, once one was sent.
    pub fn next_sequence_number(&self) -> Option<u16> {
        self.last_sent.map(|last| last.seq.wrapping_add(1))
    }

    pub fn out_ssrc(&self) -> u32 {
        self.out_ssrc
    }

    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// Set once the subscriber's answer fixes the payload type for this codec.
    pub fn payload_type(&self) -> Option<u8> {
        self.out_payload_type
    }

    pub fn set_payload_type(&mut self, payload_type: Option<u8>) {
        self.out_payload_type = payload_type;
    }

    pub fn is_started(&self) -> bool {
        self.anchor.is_some()
    }

    /// Drops a packet that carries nothing for the subscriber (padding-only probes) without
    /// leaving a gap: when it is the newest packet, later ones move down by one. An older one
    /// (reordered) leaves a gap, which the subscriber's NACK cannot fill: rare and harmless.
    pub fn skip(&mut self, sequence_number: u16) {
        let Some(anchor) = self.anchor.as_mut() else {
            return;
        };
        if sequence_number.wrapping_sub(anchor.highest_in) == 1 {
            anchor.highest_in = sequence_number;
            anchor.highest_in_ext += 1;
            anchor.seq_offset = anchor.seq_offset.wrapping_sub(1);
        }
    }

    /// Rewrites `header` in place when the packet should be sent; leaves it untouched otherwise.
    pub fn rewrite(&mut self, header: &mut Header, keyframe_start: bool, now: Instant) -> Decision {
        let Some(payload_type) = self.out_payload_type else {
            return Decision::NotNegotiated;
        };
        let anchor = match self.anchor.as_mut() {
            Some(anchor) => anchor,
            None => {
                if self.kind == MediaKind::Video && !keyframe_start {
                    return Decision::WaitingForKeyframe;
                }
                let (out_seq, out_ts) = match self.last_sent {
                    Some(last) => {
                        let elapsed = now.saturating_duration_since(last.at).as_secs_f64();
                        let ticks = (elapsed * f64::from(self.clock_rate)) as u32;
                        (last.seq.wrapping_add(1), last.ts.wrapping_add(ticks.max(1)))
                    }
                    None => (self.initial_seq, self.initial_ts),
                };
                self.anchor.insert(Anchor {
                    first_in_ext: i64::from(header.sequence_number),
                    highest_in_ext: i64::from(header.sequence_number),
                    highest_in: header.sequence_number,
                    seq_offset: out_seq.wrapping_sub(header.sequence_number),
                    ts_offset: out_ts.wrapping_sub(header.timestamp),
                })
            }
        };
        let delta = i64::from(header.sequence_number.wrapping_sub(anchor.highest_in) as i16);
        let ext = anchor.highest_in_ext + delta;
        if ext < anchor.first_in_ext {
            return Decision::BeforeStart;
        }
        if delta > 0 {
            anchor.highest_in_ext = ext;
            anchor.highest_in = header.sequence_number;
        }
        header.ssrc = self.out_ssrc;
        header.payload_type = payload_type;
        header.sequence_number = header.sequence_number.wrapping_add(anchor.seq_offset);
        header.timestamp = header.timestamp.wrapping_add(anchor.ts_offset);
        let newest = self
            .last_sent
            .is_none_or(|last| (header.sequence_number.wrapping_sub(last.seq) as i16) > 0);
        if newest {
            self.last_sent = Some(LastSent {
                seq: header.sequence_number,
                ts: header.timestamp,
                at: now,
            });
        }
        header.padding = false;
        header.extension = false;
        header.extensions.clear();
        header.extensions_padding = 0;
        Decision::Forward
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16, ts: u32) -> Header {
        Header {
            version: 2,
            payload_type: 96,
            sequence_number: seq,
            timestamp: ts,
            ssrc: 0xdead_beef,
            extension: true,
            extensions: vec![rtc::rtp::header::Extension {
                id: 4,
                payload: bytes::Bytes::from_static(&[1, 2]),
            }],
            ..Default::default()
        }
    }

    /// (input seq, input ts, keyframe start, expected decision, expected output (seq, ts))
    type Row = (u16, u32, bool, Decision, Option<(u16, u32)>);

    fn run(kind: MediaKind, rows: &[Row]) {
        let mut fwd = Forwarder::new(kind, 90_000, 1111, 500, 90_000);
        fwd.set_payload_type(Some(100));
        for (i, (seq, ts, key, decision, out)) in rows.iter().enumerate() {
            let mut h = header(*seq, *ts);
            assert_eq!(
                fwd.rewrite(&mut h, *key, Instant::now()),
                *decision,
                "row {i}"
            );
            if let Some((out_seq, out_ts)) = out {
                assert_eq!(
                    (h.sequence_number, h.timestamp),
                    (*out_seq, *out_ts),
                    "row {i}"
                );
                assert_eq!((h.ssrc, h.payload_type), (1111, 100), "row {i}");
                assert!(!h.extension && h.extensions.is_empty(), "row {i}");
            } else {
                assert_eq!(
                    h.sequence_number, *seq,
                    "row {i}: dropped packets stay untouched"
                );
            }
        }
    }

    #[test]
    fn video_waits_for_keyframe_then_is_contiguous() {
        use Decision::*;
        run(
            MediaKind::Video,
            &[
                (10, 1000, false, WaitingForKeyframe, None),
                (11, 1000, false, WaitingForKeyframe, None),
                (12, 4000, true, Forward, Some((500, 90_000))),
                (13, 4000, false, Forward, Some((501, 90_000))),
                (14, 7000, false, Forward, Some((502, 93_000))),
                (11, 1000, false, BeforeStart, None),
                (16, 7000, false, Forward, Some((504, 93_000))), // real loss stays a gap
                (15, 7000, false, Forward, Some((503, 93_000))), // late packet fills it
            ],
        );
    }

    #[test]
    fn audio_starts_immediately() {
        use Decision::*;
        run(
            MediaKind::Audio,
            &[
                (7, 48_000, false, Forward, Some((500, 90_000))),
                (8, 48_960, false, Forward, Some((501, 90_960))),
            ],
        );
    }

    #[test]
    fn sequence_and_timestamp_wrap_around() {
        use Decision::*;
        run(
            MediaKind::Video,
            &[
                (65_534, u32::MAX - 10, true, Forward, Some((500, 90_000))),
                (65_535, u32::MAX - 10, false, Forward, Some((501, 90_000))),
                (0, 2989, false, Forward, Some((502, 93_000))),
                (1, 2989, false, Forward, Some((503, 93_000))),
                (65_533, u32::MAX - 3010, false, BeforeStart, None),
            ],
        );
    }

    #[test]
    fn skipped_padding_leaves_no_gap() {
        let mut fwd = Forwarder::new(MediaKind::Video, 90_000, 1, 100, 0);
        fwd.set_payload_type(Some(96));
        let mut out = Vec::new();
        for (seq, skip) in [
            (10, false),
            (11, true),
            (12, false),
            (13, true),
            (14, true),
            (15, false),
        ] {
            if skip {
                fwd.skip(seq);
                continue;
            }
            let mut h = header(seq, 0);
            assert_eq!(fwd.rewrite(&mut h, true, Instant::now()), Decision::Forward);
            out.push(h.sequence_number);
        }
        assert_eq!(out, vec![100, 101, 102]);
        // A stale skip (older than the newest) changes nothing.
        fwd.skip(12);
        let mut h = header(16, 0);
        fwd.rewrite(&mut h, false, Instant::now());
        assert_eq!(h.sequence_number, 103);
    }

    #[test]
    fn switching_source_continues_the_output_stream() {
        use std::time::Duration;
        let t0 = Instant::now();
        let mut fwd = Forwarder::new(MediaKind::Video, 90_000, 7, 1000, 50_000);
        fwd.set_payload_type(Some(96));
        // (time ms, input seq, input ts, keyframe, switch before this row, decision, output)
        type SwitchRow = (u64, u16, u32, bool, bool, Decision, Option<(u16, u32)>);
        let rows: &[SwitchRow] = &[
            (
                0,
                100,
                9000,
                true,
                false,
                Decision::Forward,
                Some((1000, 50_000)),
            ),
            (
                33,
                101,
                12_000,
                false,
                false,
                Decision::Forward,
                Some((1001, 53_000)),
            ),
            // New source (another publisher): its own numbering; waits for its keyframe.
            (
                40,
                60_000,
                777,
                false,
                true,
                Decision::WaitingForKeyframe,
                None,
            ),
            // 100 ms after the last sent packet: ts advances 9000 ticks, seq by one.
            (
                133,
                60_001,
                3777,
                true,
                false,
                Decision::Forward,
                Some((1002, 62_000)),
            ),
            (
                166,
                60_002,
                6777,
                false,
                false,
                Decision::Forward,
                Some((1003, 65_000)),
            ),
            // A late packet of the new source from before the keyframe it started at.
            (170, 60_000, 777, false, false, Decision::BeforeStart, None),
        ];
        for (i, (ms, seq, ts, key, switch, decision, out)) in rows.iter().enumerate() {
            if *switch {
                fwd.switch_source();
            }
            let mut h = header(*seq, *ts);
            let now = t0 + Duration::from_millis(*ms);
            assert_eq!(fwd.rewrite(&mut h, *key, now), *decision, "row {i}");
            if let Some(expected) = out {
                assert_eq!((h.sequence_number, h.timestamp), *expected, "row {i}");
            }
        }
    }

    #[test]
    fn nothing_is_sent_before_payload_type_is_known() {
        let mut fwd = Forwarder::new(MediaKind::Audio, 48_000, 1, 0, 0);
        let mut h = header(1, 1);
        assert_eq!(
            fwd.rewrite(&mut h, true, Instant::now()),
            Decision::NotNegotiated
        );
        assert!(!fwd.is_started());
    }
}
