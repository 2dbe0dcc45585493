//! The few SDP facts Parley reads or repairs itself, around what webrtc-rs negotiates: text in,
//! text out, line by line, so they are table-tested against what real clients send.
//!
//! - [`normalize_offer`]: a sending m-line without `a=msid` (GStreamer's `webrtcbin`, RID
//!   simulcast included) gets one derived from its mid. webrtc-rs 0.21.1 builds incoming tracks
//!   (and binds RID encodings) only when an msid is present, so without this the media of such
//!   an m-line would be dropped after a successful answer.
//! - [`fix_answer_extmap_directions`]: an offered `a=extmap:<id>/<direction>` is answered with
//!   the reverse direction (RFC 8285 §6); webrtc-rs writes none, which means `sendrecv`.
//! - [`media_sections`]: per m-line kind, direction, codecs and whether it was accepted, for
//!   codec choice (WHEP) and for refusing an answer that accepts nothing.

use std::collections::HashMap;
use std::fmt::Write as _;

/// Where a media section's media flows, from the writer's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn parse(token: &str) -> Option<Self> {
        Some(match token {
            "sendrecv" => Self::SendRecv,
            "sendonly" => Self::SendOnly,
            "recvonly" => Self::RecvOnly,
            "inactive" => Self::Inactive,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an answer gives for this offered one.
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// One m-line as Parley needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    /// `audio`, `video`, `application`, ...
    pub kind: String,
    pub mid: Option<String>,
    pub direction: Direction,
    /// Port 0 rejects the section.
    pub accepted: bool,
    /// Codec names (`VP8`, `H264`, `opus`) in the writer's order of preference.
    pub codecs: Vec<String>,
}

/// Splits an SDP into its session part and its media sections (each starting at `m=`).
fn sections(sdp: &str) -> (Vec<&str>, Vec<Vec<&str>>) {
    let mut session = Vec::new();
    let mut media: Vec<Vec<&str>> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if line.starts_with("m=") {
            media.push(vec![line]);
        } else if let Some(section) = media.last_mut() {
            section.push(line);
        } else {
            session.push(line);
        }
    }
    (session, media)
}

/// The ICE username fragment a description carries (session level or its first media section;
/// a bundled description has one).
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .map(str::trim)
        .filter(|u| !u.is_empty())
}

fn attribute<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let rest = l.strip_prefix("a=")?;
        match rest.split_once(':') {
            Some((key, value)) if key == name => Some(value),
            None if rest == name => Some(""),
            _ => None,
        }
    })
}

fn join(session: &[&str], media: &[Vec<String>]) -> String {
    let mut out = String::new();
    for line in session {
        let _ = write!(out, "{line}\r\n");
    }
    for section in media {
        for line in section {
            let _ = write!(out, "{line}\r\n");
        }
    }
    out
}

/// Every media section of `sdp`, in order.
pub fn media_sections(sdp: &str) -> Vec<MediaSection> {
    let (session, media) = sections(sdp);
    let session_direction = session
        .iter()
        .filter_map(|l| l.strip_prefix("a="))
        .find_map(Direction::parse);
    media
        .iter()
        .map(|lines| {
            let mut m = lines[0]["m=".len()..].split(' ');
            let kind = m.next().unwrap_or("").to_owned();
            let accepted = m.next().is_some_and(|port| port != "0");
            let payload_types: Vec<&str> = m.skip(1).collect();
            // One pass over the lines (the first rtpmap of a payload type counts): offers are
            // attacker-sized, so nothing here is quadratic.
            let mut rtpmaps: HashMap<&str, &str> = HashMap::new();
            for line in lines {
                if let Some((id, rest)) = line
                    .strip_prefix("a=rtpmap:")
                    .and_then(|r| r.split_once(' '))
                {
                    rtpmaps
                        .entry(id)
                        .or_insert_with(|| rest.split('/').next().unwrap_or(""));
                }
            }
            let rtpmap = |pt: &str| rtpmaps.get(pt).map(|name| (*name).to_owned());
            MediaSection {
                kind,
                mid: attribute(lines, "mid").map(str::to_owned),
                direction: lines
                    .iter()
                    .filter_map(|l| l.strip_prefix("a="))
                    .find_map(Direction::parse)
                    .or(session_direction)
                    .unwrap_or(Direction::SendRecv),
                accepted,
                codecs: payload_types.iter().filter_map(|pt| rtpmap(pt)).collect(),
            }
        })
        .collect()
}

/// The offer with an `a=msid` added to every sending audio/video m-line that has a mid but no
/// msid (neither `a=msid` nor `a=ssrc:<n> msid:`): stream `-` (none), track `mid-<mid>`.
pub fn normalize_offer(sdp: &str) -> String {
    let (session, media) = sections(sdp);
    let info = media_sections(sdp);
    let media: Vec<Vec<String>> = media
        .iter()
        .zip(&info)
        .map(|(lines, section)| {
            let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            let has_msid = attribute(lines, "msid").is_some()
                || lines.iter().any(|l| {
                    l.strip_prefix("a=ssrc:")
                        .and_then(|rest| rest.split_once(' '))
                        .is_some_and(|(_, attr)| attr.starts_with("msid:"))
                });
            let media_kind = section.kind == "audio" || section.kind == "video";
            if let (false, true, true, Some(mid)) = (
                has_msid,
                media_kind,
                section.direction.sends(),
                section.mid.as_deref(),
            ) {
                let at = out
                    .iter()
                    .position(|l| l.starts_with("a=mid:"))
                    .unwrap_or(0);
                out.insert(at + 1, format!("a=msid:- mid-{mid}"));
            }
            out
        })
        .collect();
    join(&session, &media)
}

/// The answer with each `a=extmap` the offer restricted to a direction given the reverse one,
/// matched by m-line position and extension id.
pub fn fix_answer_extmap_directions(offer: &str, answer: &str) -> String {
    let (_, offered) = sections(offer);
    let (session, answered) = sections(answer);
    // Per offered m-line: extension id → the direction it was restricted to (first wins).
    let restricted: Vec<HashMap<&str, Direction>> = offered
        .iter()
        .map(|lines| {
            let mut ids = HashMap::new();
            for line in lines {
                let parsed = line
                    .strip_prefix("a=extmap:")
                    .and_then(|rest| rest.split_once(' '))
                    .and_then(|(value, _)| value.split_once('/'));
                if let Some((id, direction)) =
                    parsed.and_then(|(id, d)| Some((id, Direction::parse(d)?)))
                {
                    ids.entry(id).or_insert(direction);
                }
            }
            ids
        })
        .collect();
    let offered_direction = |section: usize, id: &str| restricted.get(section)?.get(id).copied();
    let media: Vec<Vec<String>> = answered
        .iter()
        .enumerate()
        .map(|(index, lines)| {
            lines
                .iter()
                .map(|line| {
                    let Some((value, uri)) = line
                        .strip_prefix("a=extmap:")
                        .and_then(|rest| rest.split_once(' '))
                    else {
                        return (*line).to_owned();
                    };
                    let id = value.split('/').next().unwrap_or(value);
                    match offered_direction(index, id) {
                        Some(d) if d != Direction::SendRecv => {
                            format!("a=extmap:{id}/{} {uri}", d.reversed().as_str())
                        }
                        _ => (*line).to_owned(),
                    }
                })
                .collect()
        })
        .collect();
    join(&session, &media)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GStreamer 1.22 `webrtcbin` RID simulcast: `a=rid` and `a=simulcast`, no `a=msid`.
    const WEBRTCBIN_SIMULCAST: &str = "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=mid:video0\r\na=rtcp-mux\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:2 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;f\r\n";

    #[test]
    #[rustfmt::skip]
    fn normalize_adds_msid_only_where_webrtc_rs_needs_it() {
        let chromium = include_str!("../tests/fixtures/sdp/chromium-simulcast-offer.sdp");
        // (name, offer, msid lines expected after normalizing)
        let rows: Vec<(&str, String, Vec<&str>)> = vec![
            ("webrtcbin simulcast",    WEBRTCBIN_SIMULCAST.to_owned(),                                    vec!["a=msid:- mid-video0"]),
            ("Chromium keeps its own", chromium.to_owned(),                                               chromium.lines().filter(|l| l.starts_with("a=msid:")).collect()),
            ("recvonly untouched",     WEBRTCBIN_SIMULCAST.replace("a=sendonly", "a=recvonly"),           vec![]),
            ("ssrc msid counts",       WEBRTCBIN_SIMULCAST.replace("a=rid:q send", "a=ssrc:1 msid:s t"),  vec![]),
            ("no mid: nothing to key", WEBRTCBIN_SIMULCAST.replace("a=mid:video0\r\n", ""),               vec![]),
            ("application untouched",  WEBRTCBIN_SIMULCAST.replace("m=video 9", "m=application 9"),       vec![]),
        ];
        for (name, offer, expected) in rows {
            let normalized = normalize_offer(&offer);
            let msids: Vec<&str> = normalized.lines().filter(|l| l.starts_with("a=msid:")).collect();
            assert_eq!(msids, expected, "{name}");
            assert_eq!(normalized.lines().count(), offer.lines().count() + usize::from(name == "webrtcbin simulcast"), "{name}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn extmap_directions_are_reversed_in_answers() {
        let offer = "v=0\r\nm=audio 9 X 111\r\na=extmap:1/sendonly urn:a\r\na=extmap:2 urn:b\r\na=extmap:3/recvonly urn:c\r\nm=video 9 X 96\r\na=extmap:1/inactive urn:a\r\n";
        let answer = "v=0\r\nm=audio 9 X 111\r\na=extmap:1 urn:a\r\na=extmap:2 urn:b\r\na=extmap:3 urn:c\r\na=extmap:4 urn:d\r\nm=video 9 X 96\r\na=extmap:1 urn:a\r\n";
        let fixed = fix_answer_extmap_directions(offer, answer);
        let extmaps: Vec<&str> = fixed.lines().filter(|l| l.starts_with("a=extmap")).collect();
        assert_eq!(extmaps, vec![
            "a=extmap:1/recvonly urn:a",
            "a=extmap:2 urn:b",
            "a=extmap:3/sendonly urn:c",
            "a=extmap:4 urn:d",
            "a=extmap:1/inactive urn:a",
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn media_sections_read_kind_direction_codecs() {
        let sdp = "v=0\r\na=recvonly\r\nm=audio 9 X 111 0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\nm=video 0 X 102 96\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\nm=application 9 X webrtc-datachannel\r\n";
        let rows = media_sections(sdp);
        let expected = vec![
            MediaSection { kind: "audio".into(),       mid: Some("0".into()), direction: Direction::RecvOnly, accepted: true,  codecs: vec!["opus".into(), "PCMU".into()] },
            MediaSection { kind: "video".into(),       mid: Some("1".into()), direction: Direction::SendOnly, accepted: false, codecs: vec!["H264".into(), "VP8".into()] },
            MediaSection { kind: "application".into(), mid: None,             direction: Direction::RecvOnly, accepted: true,  codecs: vec![] },
        ];
        assert_eq!(rows, expected);
        assert!(media_sections("garbage").is_empty());
        assert!(media_sections("").is_empty());
    }

    #[test]
    #[rustfmt::skip]
    fn ice_ufrag_is_read_where_it_is() {
        let rows: [(&str, Option<&str>); 5] = [
            ("v=0\r\na=ice-ufrag:abcd\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", Some("abcd")),
            ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:efgh\r\n", Some("efgh")),
            ("v=0\na=ice-ufrag:lf\n",                                             Some("lf")),
            ("v=0\r\na=ice-ufrag:\r\n",                                           None),
            ("v=0\r\na=ice-pwd:secret\r\n",                                       None),
        ];
        for (sdp, want) in rows {
            assert_eq!(ice_ufrag(sdp), want, "{sdp:?}");
        }
    }
}
