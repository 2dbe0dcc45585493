//! VP8 payload descriptor rewriting (RFC 7741 §4.2) for one subscriber's stream. Each simulcast
//! layer numbers its pictures on its own; after a switch the subscriber must still see picture
//! ids and TL0PICIDX that continue from the last ones it got, or its depacketizer sees a
//! different stream. The rewrite is in place on a copy, and only when the numbers differ.

/// Where the rewritable fields sit in one packet's descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Fields {
    /// Byte offset and width (7 or 15 bits) of the picture id.
    pub picture_id: Option<(usize, u8, u16)>,
    /// Byte offset and value of TL0PICIDX.
    pub tl0_pic_idx: Option<(usize, u8)>,
}

/// Parses the fields of a descriptor; `None` if it is truncated.
pub fn parse(payload: &[u8]) -> Option<Vp8Fields> {
    let first = *payload.first()?;
    let mut fields = Vp8Fields {
        picture_id: None,
        tl0_pic_idx: None,
    };
    if first & 0x80 == 0 {
        return Some(fields);
    }
    let ext = *payload.get(1)?;
    let mut at = 2;
    if ext & 0x80 != 0 {
        let high = *payload.get(at)?;
        if high & 0x80 != 0 {
            let low = *payload.get(at + 1)?;
            fields.picture_id = Some((at, 15, (u16::from(high & 0x7f) << 8) | u16::from(low)));
            at += 2;
        } else {
            fields.picture_id = Some((at, 7, u16::from(high)));
            at += 1;
        }
    }
    if ext & 0x40 != 0 {
        fields.tl0_pic_idx = Some((at, *payload.get(at)?));
    }
    Some(fields)
}

fn modulus(bits: u8) -> u16 {
    if bits == 7 {
        0x80
    } else {
        0x8000
    }
}

/// Picture id and TL0PICIDX continuity across source switches.
#[derive(Debug, Clone, Default)]
pub struct Vp8Munger {
    pid_offset: u16,
    tl0_offset: u8,
    last_pid: Option<u16>,
    last_tl0: Option<u8>,
    resync: bool,
}

impl Vp8Munger {
    /// The next packet comes from another stream (a keyframe): continue numbering from there.
    pub fn switch_source(&mut self) {
        self.resync = true;
    }

    /// The rewritten descriptor bytes for `payload`, or `None` when it can be sent as it is
    /// (unchanged numbering, or no descriptor extension). Call for every forwarded packet.
    pub fn rewrite(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let fields = parse(payload)?;
        if std::mem::take(&mut self.resync) {
            if let (Some((_, bits, pid)), Some(last)) = (fields.picture_id, self.last_pid) {
                self.pid_offset = last.wrapping_add(1).wrapping_sub(pid) % modulus(bits);
            }
            if let (Some((_, tl0)), Some(last)) = (fields.tl0_pic_idx, self.last_tl0) {
                self.tl0_offset = last.wrapping_add(1).wrapping_sub(tl0);
            }
        }
        let mut out: Option<Vec<u8>> = None;
        if let Some((at, bits, pid)) = fields.picture_id {
            let m = modulus(bits);
            let new = (pid + self.pid_offset % m) % m;
            let newer = self
                .last_pid
                .is_none_or(|last| (new.wrapping_sub(last) % m) < m / 2);
            if newer {
                self.last_pid = Some(new);
            }
            if new != pid {
                let buf = out.get_or_insert_with(|| payload.to_vec());
                if bits == 15 {
                    buf[at] = 0x80 | (new >> 8) as u8;
                    buf[at + 1] = new as u8;
                } else {
                    buf[at] = new as u8;
                }
            }
        }
        if let Some((at, tl0)) = fields.tl0_pic_idx {
            let new = tl0.wrapping_add(self.tl0_offset);
            let newer = self
                .last_tl0
                .is_none_or(|last| new.wrapping_sub(last) < 128);
            if newer {
                self.last_tl0 = Some(new);
            }
            if new != tl0 {
                out.get_or_insert_with(|| payload.to_vec())[at] = new;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Descriptor with X, I (15-bit pid), L, T: [0x90, 0xE0, pid_hi|0x80, pid_lo, tl0, tid, tag].
    fn packet(pid: u16, tl0: u8) -> Vec<u8> {
        vec![
            0x90,
            0xE0,
            0x80 | (pid >> 8) as u8,
            pid as u8,
            tl0,
            0x40,
            0x50,
        ]
    }

    fn fields(p: &[u8]) -> (u16, u8) {
        let f = parse(p).unwrap();
        (f.picture_id.unwrap().2, f.tl0_pic_idx.unwrap().1)
    }

    #[test]
    fn parse_table() {
        let cases: &[(&[u8], Option<Vp8Fields>)] = &[
            (&[], None),
            (
                &[0x10, 0x00],
                Some(Vp8Fields {
                    picture_id: None,
                    tl0_pic_idx: None,
                }),
            ),
            (&[0x90], None),
            (
                &[0x90, 0x80, 0x05],
                Some(Vp8Fields {
                    picture_id: Some((2, 7, 5)),
                    tl0_pic_idx: None,
                }),
            ),
            (&[0x90, 0x80, 0x81], None), // 15-bit id cut short
            (
                &[0x90, 0xC0, 0x81, 0x02, 0x09],
                Some(Vp8Fields {
                    picture_id: Some((2, 15, 0x102)),
                    tl0_pic_idx: Some((4, 9)),
                }),
            ),
            (&[0x90, 0x40], None), // L without its byte
        ];
        for (payload, expected) in cases {
            assert_eq!(parse(payload), *expected, "{payload:02x?}");
        }
    }

    #[test]
    fn numbering_continues_across_a_switch() {
        let mut m = Vp8Munger::default();
        // (input pid, input tl0, switch before, expected output pid, tl0)
        let rows = [
            (100, 7, false, 100, 7),
            (101, 7, false, 101, 7),
            (102, 8, false, 102, 8),
            (30_000, 200, true, 103, 9), // another layer's numbering
            (30_001, 200, false, 104, 9),
            (30_002, 201, false, 105, 10),
            (32_767, 255, false, 2870, 64), // input wraps...
            (0, 0, false, 2871, 65),        // ...output follows
        ];
        for (i, (pid, tl0, switch, out_pid, out_tl0)) in rows.into_iter().enumerate() {
            if switch {
                m.switch_source();
            }
            let input = packet(pid, tl0);
            let output = m.rewrite(&input).unwrap_or_else(|| input.clone());
            assert_eq!(fields(&output), (out_pid, out_tl0), "row {i}");
            assert_eq!(output[5..], input[5..], "row {i}: the rest is untouched");
        }
    }

    #[test]
    fn unchanged_numbering_needs_no_copy_and_garbage_is_left_alone() {
        let mut m = Vp8Munger::default();
        assert_eq!(m.rewrite(&packet(5, 5)), None);
        assert_eq!(m.rewrite(&[0x90, 0x80]), None);
        assert_eq!(m.rewrite(&[]), None);
    }
}
