#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) from real traffic: the STUN
fixtures of libnice, Chromium, Firefox and aiortc, VP8 payloads from the Chromium simulcast
capture, real SDP offers, protocol messages from docs/protocol.md's shapes, and one small file
of each upload type. Run once; the corpora are committed."""
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def rtp_payloads(pcap):
    with open(pcap, "rb") as f:
        data = f.read()
    offset = 24
    while offset + 16 <= len(data):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        rtp = frame[14 + ihl + 8 :]
        if len(rtp) < 12:
            continue
        cc = rtp[0] & 0x0F
        pos = 12 + 4 * cc
        if rtp[0] & 0x10:
            length = struct.unpack_from(">H", rtp, pos + 2)[0]
            pos += 4 + 4 * length
        end = len(rtp)
        if rtp[0] & 0x20:
            end -= rtp[-1]
        yield rtp[1] & 0x7F, rtp[pos:end]


def main():
    for name in sorted(os.listdir(os.path.join(ROOT, "sfu/tests/fixtures/stun"))):
        if name.endswith(".hex"):
            text = open(os.path.join(ROOT, "sfu/tests/fixtures/stun", name)).read()
            put("stun", bytes.fromhex("".join(text.split())))
    seen = {}
    for pt, payload in rtp_payloads(os.path.join(FIXTURES, "chromium-simulcast-vp8-opus.pcap")):
        if pt == 96 and payload:
            key = (payload[0], payload[1] if len(payload) > 1 else 0, len(payload) > 900)
            if seen.setdefault(key, 0) < 3:
                seen[key] += 1
                put("vp8", payload[:200])
                put("keyframe", payload[:64])
    # H264: a STAP-A with SPS/PPS/IDR, an FU-A start of an IDR, a plain non-IDR NAL.
    for h264 in [b"\x78\x00\x04\x67\x42\xc0\x1f\x00\x04\x68\xce\x3c\x80\x00\x03\x65\x88\x84",
                 b"\x7c\x85\x88\x84\x00", b"\x41\x9a\x00"]:
        put("keyframe", h264)
    for path in [os.path.join(FIXTURES, "chromium-simulcast-vp8-opus.sdp-offer.txt"),
                 os.path.join(FIXTURES, "chromium-simulcast-vp8-opus-dd.sdp-offer.txt"),
                 os.path.join(ROOT, "sfu/tests/fixtures/sdp/chromium-simulcast-offer.sdp")]:
        put("sdp", open(path, "rb").read())
        put("sdp_parse", open(path, "rb").read())
    put("sdp", b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
               b"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n"
               b"a=rtpmap:96 VP8/90000\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
               b"a=fingerprint:sha-256 00:11\r\na=setup:actpass\r\na=rtcp-mux\r\n")
    messages = [
        {"type": "hello", "id": "1", "version": 1, "token": "a.b.c"},
        {"type": "ping", "id": "2"},
        {"type": "join", "id": "3", "room": "standup"},
        {"type": "publish", "id": "4", "sdp": "v=0\r\n", "tracks": {"a": {"source": "camera"}}},
        {"type": "chat_send", "id": "5", "conversation": "c", "client_msg_id": "m", "text": "hi"},
        {"type": "chat_sync", "id": "6", "cursors": [{"conversation": "c", "after_seq": 1, "after_version": 2}]},
        {"type": "chat_create", "id": "7", "kind": "group", "with": ["b"], "title": "t"},
        {"type": "set_layer", "id": "8", "track": "t", "layer": "h"},
        {"type": "call_invite", "id": "9", "conversation": "c", "media": "video"},
        {"type": "presence_query", "id": "10", "identities": ["a"]},
    ]
    for message in messages:
        put("ws_decode", json.dumps(message).encode())
    for sample in [b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", b"\xff\xd8\xff\xe0\0\x10JFIF\0", b"GIF89a\x01\0",
                   b"RIFF\x24\0\0\0WEBPVP8 ", b"%PDF-1.7\n", "héllo wörld ✓".encode()]:
        for cut in (0, 3, 9):
            put("upload_sniff", bytes([cut]) + sample)


if __name__ == "__main__":
    sys.exit(main())
