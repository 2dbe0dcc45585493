#!/usr/bin/python3
"""A real GStreamer (webrtcbin + libnice) client for Parley's end-to-end tests.

    parley_gst.py check
    parley_gst.py whip --url http://127.0.0.1:PORT/whip/ROOM --token T \
        --video vp8-simulcast|vp8|h264 [--audio] --seconds N
    parley_gst.py whep --url http://127.0.0.1:PORT/whep/ROOM --token T --seconds N

`whip` publishes a test pattern the way a GStreamer application does it with webrtcbin:
`vp8-simulcast` is one video m-line with three RID encodings (q, h, f: a quarter, half and full
size), built the way GStreamer 1.22's own webrtcbin simulcast test builds it: one payloader
per layer with its own SSRC and the `sdes:mid` + `sdes:rtp-stream-id` header extensions, one
`rtpfunnel`, and a capsfilter whose caps carry `rid-q=send`, ..., `a-simulcast="send q;h;f"`,
so webrtcbin writes `a=rid:... send` and `a=simulcast:send q;h;f` and, like every webrtcbin
simulcast offer, no `a=msid`. `h264` is x264enc (constrained baseline, packetization-mode 1).
Two GStreamer 1.22 bugs are worked around (see Session.__init__ and
Publisher._answer_keyframe_requests): webrtcbin's ICE agent is a floating reference, and its
internal bundle funnel drops keyframe requests (PLI/FIR) for simulcast layers.

`whep` is a recvonly viewer that decodes what it receives (decodebin) and reports per second.

Both speak WHIP/WHEP over plain HTTP (POST application/sdp with a bearer token, 201 with the
answer and Location, DELETE on exit) without trickle: the offer is sent once ICE gathering is
complete. Only 127.0.0.1 host candidates are gathered. One JSON object per line on stdout:
a line per second while media flows, then {"summary": ...}. Failures: a message on stderr and
exit code 2 (HTTP), 3 (ICE/DTLS connection), 4 (pipeline), 5 (missing GStreamer pieces).

Use /usr/bin/python3 (Debian's, with python3-gi); scripts/test.sh installs the packages.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT_HTTP, EXIT_CONNECTION, EXIT_PIPELINE, EXIT_MISSING = 2, 3, 4, 5

PACKAGES = ("python3-gi gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice gstreamer1.0-plugins-base "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly")
ELEMENTS = ("webrtcbin", "nicesrc", "rtpfunnel", "videotestsrc", "videoscale", "vp8enc",
            "rtpvp8pay", "x264enc", "rtph264pay", "capssetter", "audiotestsrc", "opusenc",
            "rtpopuspay", "decodebin", "vp8dec", "rtpvp8depay", "rtph264depay", "h264parse",
            "openh264dec", "opusdec", "rtpopusdepay", "fakesink")

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstSdp", "1.0")
    gi.require_version("GstWebRTC", "1.0")
    gi.require_version("GstRtp", "1.0")
    from gi.repository import GLib, Gst, GstRtp, GstSdp, GstWebRTC
except (ImportError, ValueError) as err:  # pragma: no cover - environment check
    print(f"parley_gst: GStreamer's Python bindings are missing ({err}); run scripts/test.sh "
          f"(apt packages: {PACKAGES}) and use /usr/bin/python3", file=sys.stderr)
    sys.exit(EXIT_MISSING)

RTPHDREXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
RTPHDREXT_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
RTPHDREXT_TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
MID_EXT_ID, RID_EXT_ID, TWCC_EXT_ID = 1, 2, 3
VP8_PT, H264_PT, OPUS_PT = 96, 102, 111
# (rid, divisor of the full size, target bitrate in bit/s), smallest first as webrtcbin lists them.
SIMULCAST_LAYERS = (("q", 4, 150_000), ("h", 2, 500_000), ("f", 1, 1_500_000))
KEEP_ALIVE = []
# Set by SIGTERM: end the media phase now (DELETE, summary, exit 0).
STOP = threading.Event()
GAUGES = ("width", "height")


class Failure(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def log(args, message):
    if args.verbose:
        print(f"parley_gst: {message}", file=sys.stderr, flush=True)


# --- HTTP (WHIP/WHEP, RFC 9725) -------------------------------------------------------------

def http_post_offer(url, token, sdp):
    """POSTs the offer; returns (absolute resource URL, answer SDP) or raises Failure."""
    request = urllib.request.Request(url, data=sdp.encode(), method="POST", headers={
        "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, body = response.status, response.read().decode()
            location = response.headers.get("Location")
    except urllib.error.HTTPError as err:
        raise Failure(EXIT_HTTP, f"POST {url}: HTTP {err.code}: {err.read().decode(errors='replace')}")
    except (urllib.error.URLError, OSError) as err:
        raise Failure(EXIT_HTTP, f"POST {url}: {err}")
    if status != 201:
        raise Failure(EXIT_HTTP, f"POST {url}: expected 201 Created, got {status}: {body}")
    if not location:
        raise Failure(EXIT_HTTP, f"POST {url}: 201 without a Location header")
    return urllib.parse.urljoin(url, location), body


def http_delete(resource, token):
    request = urllib.request.Request(resource, method="DELETE",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


# --- GLib/GStreamer plumbing ----------------------------------------------------------------

class Session:
    """One webrtcbin in one pipeline, driven step by step from the main thread."""

    def __init__(self, args):
        self.args = args
        self.pipeline = Gst.Pipeline.new("parley")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.pipeline.add(self.webrtc)
        # Loopback only: libnice skips loopback when it picks interfaces itself, and the tests
        # must never use anything but 127.0.0.0/8.
        # GStreamer 1.22's webrtcbin never sinks the floating reference of its ICE agent, so
        # PyGObject's wrapper owns it: keep the wrapper alive as long as the process (main()
        # leaves with os._exit, before interpreter teardown could free it a second time).
        ice = self.webrtc.get_property("ice-agent")
        KEEP_ALIVE.append(ice)
        ice.set_property("ice-tcp", False)
        if not ice.emit("add-local-ip-address", "127.0.0.1"):
            raise Failure(EXIT_PIPELINE, "the ICE agent refused 127.0.0.1 as a local address")
        self.candidates = []  # (mline index, "candidate:...")
        self.lock = threading.Lock()
        self.error = None
        self.started = time.monotonic()
        self.connected_at = None
        self.webrtc.connect("on-ice-candidate", self._on_candidate)
        self.webrtc.connect("notify::connection-state", self._on_state)
        self.webrtc.connect("notify::ice-connection-state", self._on_state)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_error)
        bus.connect("message::warning", self._on_warning)
        self.resource = None
        self.phases = {}  # phase -> seconds since start, for the "connected" line

    def mark(self, phase):
        self.phases[phase] = round(time.monotonic() - self.started, 3)

    def _on_candidate(self, _webrtc, mline, candidate):
        with self.lock:
            self.candidates.append((mline, candidate))

    def _on_state(self, webrtc, _pspec):
        ice = webrtc.get_property("ice-connection-state")
        pc = webrtc.get_property("connection-state")
        log(self.args, f"ice-connection-state={ice.value_nick} connection-state={pc.value_nick}")
        if pc == GstWebRTC.WebRTCPeerConnectionState.CONNECTED and self.connected_at is None:
            self.connected_at = time.monotonic()
        if GstWebRTC.WebRTCICEConnectionState.FAILED == ice:
            self.fail(EXIT_CONNECTION, "ICE failed (no STUN binding check succeeded)")
        elif pc == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            self.fail(EXIT_CONNECTION, "the peer connection failed (ICE or DTLS)")

    def _on_error(self, _bus, message):
        err, debug = message.parse_error()
        self.fail(EXIT_PIPELINE, f"pipeline error from {message.src.get_name()}: {err.message} ({debug})")

    def _on_warning(self, _bus, message):
        warning, _debug = message.parse_warning()
        log(self.args, f"warning from {message.src.get_name()}: {warning.message}")

    def fail(self, code, message):
        with self.lock:
            if self.error is None:
                self.error = Failure(code, message)

    def pump(self, what, timeout, done=lambda: False, tick=None, code=EXIT_PIPELINE):
        """Runs the GLib main context until `done()`, failing with `code` after `timeout`
        seconds; or, when `tick` is given, for `timeout` seconds calling `tick()` on every
        iteration. Raises the session's failure as soon as there is one."""
        context = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while True:
            if self.error is not None:
                raise self.error
            if done():
                return
            if STOP.is_set():
                if tick is not None:
                    return
                raise Failure(code, f"stopped (SIGTERM) while waiting for {what}")
            now = time.monotonic()
            if now >= deadline:
                if tick is not None:
                    return
                raise Failure(code, f"timed out after {timeout:.0f} s waiting for {what}")
            if tick is not None:
                tick()
            if not context.iteration(False):
                time.sleep(0.005)

    def promise(self, signal, *args):
        promise = Gst.Promise.new()
        self.webrtc.emit(signal, *args, promise)
        promise.wait()
        reply = promise.get_reply()
        if reply is not None and reply.has_field("error"):
            raise Failure(EXIT_PIPELINE, f"{signal}: {reply.get_value('error').message}")
        return reply

    def offer_with_candidates(self):
        """create-offer, set-local-description, wait for ICE gathering, and return the offer's
        text with the gathered loopback candidates (non-trickle WHIP/WHEP)."""
        reply = self.promise("create-offer", None)
        offer = reply.get_value("offer")
        self.promise("set-local-description", offer)
        self.pump("ICE gathering", 10, lambda: self.webrtc.get_property("ice-gathering-state")
                  == GstWebRTC.WebRTCICEGatheringState.COMPLETE)
        self.mark("gathered_s")
        text = self.webrtc.get_property("local-description").sdp.as_text()
        with self.lock:
            candidates = list(self.candidates)
        return with_candidates(text, candidates)

    def negotiate(self, url, token):
        offer = self.offer_with_candidates()
        if self.args.dump_sdp:
            print(f"--- offer\n{offer}", file=sys.stderr, flush=True)
        self.resource, answer = http_post_offer(url, token, offer)
        self.mark("answered_s")
        if self.args.dump_sdp:
            print(f"--- answer ({self.resource})\n{answer}", file=sys.stderr, flush=True)
        result, message = GstSdp.SDPMessage.new_from_text(answer)
        if result != GstSdp.SDPResult.OK:
            raise Failure(EXIT_HTTP, f"the answer is not SDP: {answer!r}")
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.promise("set-remote-description", description)

    def wait_connected(self, timeout):
        self.pump("the peer connection to connect (ICE + DTLS)", timeout,
                  lambda: self.connected_at is not None, code=EXIT_CONNECTION)
        connect_s = self.connected_at - self.started
        emit({"event": "connected", "after_s": round(connect_s, 3), **self.phases})
        return connect_s

    def close(self, token):
        status = http_delete(self.resource, token) if self.resource else None
        self.pipeline.set_state(Gst.State.NULL)
        return status


def with_candidates(sdp, candidates):
    """The offer as sent: its loopback `a=candidate` lines plus any gathered candidate it lacks
    (no trickle, so all of them), then `a=end-of-candidates`, in each m-section that is not
    `bundle-only`."""
    sections = [[]]
    for line in sdp.strip().split("\r\n"):
        if line.startswith("m="):
            sections.append([])
        if line.startswith("a=candidate:") and " 127." not in line:
            continue
        if line != "a=end-of-candidates":
            sections[-1].append(line)
    out = list(sections[0])
    for index, section in enumerate(sections[1:]):
        out.extend(section)
        if "a=bundle-only" in section:
            continue
        present = {line[2:] for line in section if line.startswith("a=candidate:")}
        out.extend(f"a={c}" for m, c in candidates if m == index and " 127." in c and c not in present)
        out.append("a=end-of-candidates")
    return "\r\n".join(out) + "\r\n"


def count_probe(counter, key, lock):
    """A pad probe adding buffers and bytes (buffer lists too) to counter[key]."""

    def probe(_pad, info):
        if info.type & Gst.PadProbeType.BUFFER_LIST:
            blist = info.get_buffer_list()
            n, size = blist.length(), blist.calculate_size()
        else:
            n, size = 1, info.get_buffer().get_size()
        with lock:
            entry = counter.setdefault(key, [0, 0])
            entry[0] += n
            entry[1] += size
        return Gst.PadProbeReturn.OK

    return probe


def make(factory, name=None, **props):
    element = Gst.ElementFactory.make(factory, name)
    if element is None:
        raise Failure(EXIT_MISSING, f"GStreamer element {factory} is missing; run scripts/test.sh")
    for key, value in props.items():
        element.set_property(key.replace("_", "-"), value)
    return element


def header_extension(uri, ext_id, **props):
    ext = GstRtp.RTPHeaderExtension.create_from_uri(uri)
    if ext is None:
        raise Failure(EXIT_MISSING, f"no GStreamer RTP header extension for {uri}")
    ext.set_id(ext_id)
    for key, value in props.items():
        ext.set_property(key, value)
    return ext


def chain(pipeline, *elements):
    for element in elements:
        pipeline.add(element)
    for upstream, downstream in zip(elements, elements[1:]):
        if not upstream.link(downstream):
            raise Failure(EXIT_PIPELINE, f"cannot link {upstream.get_name()} to {downstream.get_name()}")
    return elements[-1]


# --- WHIP publisher -------------------------------------------------------------------------

class Publisher(Session):
    def __init__(self, args):
        super().__init__(args)
        self.sent = {}  # layer -> [packets, bytes]
        self.keyframe_requests = {}  # layer -> GstForceKeyUnit events seen upstream
        self.sink_pads = []
        self.layer_encoders = {}  # ssrc -> (layer, encoder), simulcast only
        width, height = args.width, args.height
        source = chain(self.pipeline,
                       make("videotestsrc", is_live=True, pattern=args.pattern),
                       make("capsfilter", caps=Gst.Caps.from_string(
                           f"video/x-raw,format=I420,width={width},height={height},"
                           f"framerate={args.fps}/1")),
                       make("tee", name="camera"))
        if args.video == "vp8-simulcast":
            self._simulcast(source, width, height)
        elif args.video == "vp8":
            pay, _ = self._vp8_layer(source, "video", width, height, args.bitrate, ssrc=0x1000)
            pay.set_property("pt", VP8_PT)
            self._to_webrtc(pay, f"application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,"
                                 f"payload={VP8_PT},rtcp-fb-nack-pli=true,rtcp-fb-ccm-fir=true")
        else:
            self._h264(source, width, height)
        if args.audio:
            pay = chain(self.pipeline,
                        make("audiotestsrc", is_live=True, wave="sine", volume=0.3),
                        make("audioconvert"), make("audioresample"),
                        make("opusenc", bitrate=32000),
                        make("rtpopuspay", pt=OPUS_PT, ssrc=0x2000))
            self._count(pay, "audio")
            self._to_webrtc(pay, f"application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,"
                                 f"encoding-params=(string)2,payload={OPUS_PT}")

    def _count(self, pay, key):
        src = pay.get_static_pad("src")
        src.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST,
                      count_probe(self.sent, key, self.lock))

        def upstream(_pad, info):
            event = info.get_event()
            structure = event.get_structure() if event.type == Gst.EventType.CUSTOM_UPSTREAM else None
            if structure is not None and structure.get_name() == "GstForceKeyUnit":
                with self.lock:
                    self.keyframe_requests[key] = self.keyframe_requests.get(key, 0) + 1
            return Gst.PadProbeReturn.OK

        src.add_probe(Gst.PadProbeType.EVENT_UPSTREAM, upstream)

    def _vp8_layer(self, tee, key, width, height, bitrate, ssrc):
        args = self.args
        queue = make("queue", max_size_buffers=2, leaky=2)
        pay = chain(self.pipeline,
                    queue,
                    make("videoscale"),
                    make("capsfilter", caps=Gst.Caps.from_string(
                        f"video/x-raw,width={width},height={height}")),
                    make("vp8enc", name=f"enc-{key}", deadline=1, cpu_used=args.cpu_used,
                         threads=1, lag_in_frames=0, end_usage=1, target_bitrate=bitrate,
                         keyframe_max_dist=args.keyframe_interval, error_resilient=1),
                    make("rtpvp8pay", name=f"pay-{key}", picture_id_mode=2, ssrc=ssrc, mtu=1200))
        tee.link(queue)
        self._count(pay, key)
        return pay, self.pipeline.get_by_name(f"enc-{key}")

    def _simulcast(self, tee, width, height):
        """Three payloaders, one rtpfunnel, one capsfilter with the RID/simulcast caps fields
        (what gst-plugins-bad's webrtcbin test `test_simulcast` does)."""
        funnel = make("rtpfunnel", name="funnel")
        self.pipeline.add(funnel)
        mid = "video0"
        for index, (rid, divisor, bitrate) in enumerate(SIMULCAST_LAYERS):
            ssrc = 0x1000 + index
            pay, encoder = self._vp8_layer(tee, rid, width // divisor, height // divisor, bitrate,
                                           ssrc=ssrc)
            self.layer_encoders[ssrc] = (rid, encoder)
            pay.set_property("pt", VP8_PT)
            pay.emit("add-extension", header_extension(RTPHDREXT_MID, MID_EXT_ID, mid=mid))
            pay.emit("add-extension", header_extension(RTPHDREXT_RID, RID_EXT_ID, rid=rid))
            if not pay.link(funnel):
                raise Failure(EXIT_PIPELINE, "cannot link a payloader to the rtpfunnel")
        rids = [rid for rid, _, _ in SIMULCAST_LAYERS]
        caps = (f"application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload={VP8_PT},"
                f"rtcp-fb-nack-pli=true,rtcp-fb-ccm-fir=true,a-mid={mid},"
                f"extmap-{MID_EXT_ID}=(string){RTPHDREXT_MID},"
                f"extmap-{RID_EXT_ID}=(string){RTPHDREXT_RID},"
                + ",".join(f"rid-{rid}=send" for rid in rids)
                + f",a-simulcast=(string)\"send {';'.join(rids)}\"")
        filter_ = make("capsfilter", caps=Gst.Caps.from_string(caps))
        self.pipeline.add(filter_)
        funnel.link(filter_)
        self._to_webrtc(filter_, None)

    def _h264(self, tee, width, height):
        args = self.args
        queue = make("queue", max_size_buffers=2, leaky=2)
        pay = chain(self.pipeline,
                    queue,
                    make("x264enc", tune="zerolatency", speed_preset="ultrafast",
                         key_int_max=args.keyframe_interval, bitrate=args.bitrate // 1000, threads=1),
                    make("capsfilter", caps=Gst.Caps.from_string(
                        "video/x-h264,profile=constrained-baseline,stream-format=byte-stream")),
                    make("rtph264pay", name="pay-video", config_interval=-1, pt=H264_PT,
                         ssrc=0x1000, mtu=1200, aggregate_mode=1))
        tee.link(queue)
        self._count(pay, "video")
        last = pay
        if args.h264_profile_level_id != "native":
            # x264 and openh264 both describe constrained baseline as 42c0xx (constraint_set1);
            # browsers and Parley offer 42e01f. Same profile, different bits.
            last = make("capssetter", caps=Gst.Caps.from_string(
                f"application/x-rtp,profile-level-id=(string){args.h264_profile_level_id}"))
            self.pipeline.add(last)
            pay.link(last)
        self._to_webrtc(last, f"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,"
                              f"payload={H264_PT},packetization-mode=(string)1,"
                              f"rtcp-fb-nack-pli=true,rtcp-fb-ccm-fir=true")

    def _to_webrtc(self, upstream, preferences):
        queue = make("queue")
        self.pipeline.add(queue)
        upstream.link(queue)
        pad = self.webrtc.request_pad_simple("sink_%u")
        if queue.get_static_pad("src").link(pad) != Gst.PadLinkReturn.OK:
            raise Failure(EXIT_PIPELINE, f"cannot link to webrtcbin {pad.get_name()}")
        transceiver = pad.get_property("transceiver")
        transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        if preferences is not None:
            transceiver.set_property("codec-preferences", Gst.Caps.from_string(preferences))
        self.sink_pads.append(pad)

    def _answer_keyframe_requests(self):
        """Keyframe requests for simulcast layers, straight from RTCP to the layer's encoder.

        GStreamer 1.22's webrtcbin bundles its sink pads through an internal rtpfunnel that
        routes GstForceKeyUnit events upstream by the `ssrc` field of each pad's caps. A
        simulcast pad carries three SSRCs and so no `ssrc` in its caps: that funnel drops every
        PLI/FIR for the layers (they arrive, rtpsession logs "received PLI request from 1000
        about 1000", and no encoder ever hears of it; keyframes then come only every
        --keyframe-interval frames). A GStreamer application has to do this itself."""
        rtpbin = self.webrtc.get_by_name("rtpbin")
        session = rtpbin.emit("get-internal-session", 0) if rtpbin is not None else None
        if session is None:
            raise Failure(EXIT_PIPELINE, "webrtcbin has no RTP session 0 after negotiation")
        KEEP_ALIVE.append(session)
        session.connect("on-feedback-rtcp", self._on_feedback)

    def _on_feedback(self, _session, kind, fmt, _sender, media_ssrc, fci):
        if kind != 206:  # PSFB
            return
        if fmt == 1:  # PLI
            ssrcs = [media_ssrc]
        elif fmt == 4 and fci is not None:  # FIR: (ssrc, seq nr, reserved) entries
            data = fci.extract_dup(0, fci.get_size())
            ssrcs = [int.from_bytes(data[i:i + 4], "big") for i in range(0, len(data) - 7, 8)]
        else:
            return
        for ssrc in ssrcs:
            layer = self.layer_encoders.get(ssrc)
            if layer is None:
                continue
            rid, encoder = layer
            with self.lock:
                self.keyframe_requests[rid] = self.keyframe_requests.get(rid, 0) + 1
            event = Gst.Event.new_custom(Gst.EventType.CUSTOM_UPSTREAM, Gst.Structure.new_from_string(
                "GstForceKeyUnit, all-headers=(boolean)true"))
            encoder.get_static_pad("src").send_event(event)

    def run(self):
        args = self.args
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise Failure(EXIT_PIPELINE, "the pipeline did not start")
        # The offer is built from the caps webrtcbin received, RID fields included.
        self.pump("caps at webrtcbin", 10,
                  lambda: all(p.get_current_caps() is not None for p in self.sink_pads))
        self.mark("caps_s")
        self.negotiate(args.url, args.token)
        if self.layer_encoders:
            self._answer_keyframe_requests()
        connect_s = self.wait_connected(args.connect_timeout)
        report = Reporter(self.snapshot)
        self.pump("media", args.seconds, tick=report.tick)
        report.flush()
        status = self.close(args.token)
        summary = self.snapshot()
        summary.update(summary=True, connect_s=round(connect_s, 3), delete_status=status)
        emit(summary)

    def snapshot(self):
        with self.lock:
            return {"sent": {k: {"packets": v[0], "bytes": v[1]} for k, v in self.sent.items()},
                    "keyframe_requests": dict(self.keyframe_requests)}


class Reporter:
    """Calls emit() once a second with the difference between two snapshots."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self.start = time.monotonic()
        self.second = 0
        self.last = snapshot()

    def tick(self):
        if time.monotonic() - self.start >= self.second + 1:
            self.flush()

    def flush(self):
        self.second += 1
        now = self.snapshot()
        emit({"t": self.second, **diff(now, self.last)})
        self.last = now


def diff(now, before, top=True):
    """`now - before` for counters (nested dicts of ints); gauges as they are now. Zero
    entries of nested dicts are left out."""
    if isinstance(now, dict):
        before = before if isinstance(before, dict) else {}
        out = {}
        for key, value in now.items():
            d = value if key in GAUGES else diff(value, before.get(key), top=False)
            if top or d:
                out[key] = d
        return out
    if isinstance(now, int) and not isinstance(now, bool):
        return now - (before or 0)
    return now


# --- WHEP viewer ----------------------------------------------------------------------------

class Viewer(Session):
    def __init__(self, args):
        super().__init__(args)
        self.frames = 0
        self.sizes = {}  # "WxH" -> frames
        self.size = None
        self.audio_buffers = 0
        self.codecs = []
        twcc = (f",rtcp-fb-transport-cc=true,extmap-{TWCC_EXT_ID}=(string){RTPHDREXT_TWCC}")
        video_twcc = twcc if args.twcc in ("video", "all") else ""
        audio_twcc = twcc if args.twcc == "all" else ""
        video = []
        for codec in args.video_codecs.split(","):
            if codec == "vp8":
                video.append(f"application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,"
                             f"payload={VP8_PT},rtcp-fb-nack-pli=true,rtcp-fb-ccm-fir=true{video_twcc}")
            elif codec == "h264":
                video.append(f"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,"
                             f"payload={H264_PT},packetization-mode=(string)1,"
                             f"profile-level-id=(string)42e01f,level-asymmetry-allowed=(string)1,"
                             f"rtcp-fb-nack-pli=true,rtcp-fb-ccm-fir=true{video_twcc}")
            else:
                raise Failure(EXIT_PIPELINE, f"unknown video codec {codec!r} (vp8, h264)")
        recvonly = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
        self.webrtc.emit("add-transceiver", recvonly, Gst.Caps.from_string(";".join(video)))
        if not args.no_audio:
            self.webrtc.emit("add-transceiver", recvonly, Gst.Caps.from_string(
                f"application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,"
                f"encoding-params=(string)2,payload={OPUS_PT}{audio_twcc}"))
        self.webrtc.connect("pad-added", self._on_rtp_pad)

    def _on_rtp_pad(self, _webrtc, pad):
        if pad.direction != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps()
        name = caps.get_structure(0).get_string("encoding-name") if caps else "?"
        with self.lock:
            self.codecs.append(name)
        decodebin = make("decodebin")
        decodebin.connect("deep-element-added", self._on_element)
        decodebin.connect("pad-added", self._on_decoded_pad)
        self.pipeline.add(decodebin)
        decodebin.sync_state_with_parent()
        pad.link(decodebin.get_static_pad("sink"))

    def _on_element(self, _bin, _sub, element):
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtpvp8depay":
            element.set_property("wait-for-keyframe", True)
            element.set_property("request-keyframe", True)

    def _on_decoded_pad(self, _decodebin, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = caps.get_structure(0).get_name()
        sink = make("fakesink", sync=False)
        sink.set_property("async", False)
        self.pipeline.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))
        if kind.startswith("video/"):
            pad.add_probe(Gst.PadProbeType.BUFFER, self._on_frame)
        else:
            pad.add_probe(Gst.PadProbeType.BUFFER, self._on_audio)

    def _on_frame(self, pad, _info):
        caps = pad.get_current_caps()
        structure = caps.get_structure(0)
        width, height = structure.get_int("width")[1], structure.get_int("height")[1]
        key = f"{width}x{height}"
        with self.lock:
            self.frames += 1
            self.size = (width, height)
            self.sizes[key] = self.sizes.get(key, 0) + 1
        return Gst.PadProbeReturn.OK

    def _on_audio(self, _pad, _info):
        with self.lock:
            self.audio_buffers += 1
        return Gst.PadProbeReturn.OK

    def snapshot(self):
        with self.lock:
            width, height = self.size or (None, None)
            return {"frames": self.frames, "sizes": dict(self.sizes), "audio_buffers": self.audio_buffers,
                    "width": width, "height": height}

    def run(self):
        args = self.args
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise Failure(EXIT_PIPELINE, "the pipeline did not start")
        self.negotiate(args.url, args.token)
        connect_s = self.wait_connected(args.connect_timeout)
        first_frame = {}

        def first():
            if "s" not in first_frame and self.frames > 0:
                first_frame["s"] = round(time.monotonic() - self.started, 3)

        report = Reporter(self.snapshot)

        def tick():
            first()
            report.tick()

        self.pump("media", args.seconds, tick=tick)
        report.flush()
        status = self.close(args.token)
        summary = self.snapshot()
        with self.lock:
            codecs = list(self.codecs)
        summary.update(summary=True, connect_s=round(connect_s, 3), delete_status=status,
                       first_frame_s=first_frame.get("s"), codecs=codecs)
        emit(summary)
        if args.min_frames and summary["frames"] < args.min_frames:
            raise Failure(EXIT_PIPELINE, f"decoded {summary['frames']} frames, fewer than {args.min_frames}")


# --- command line ---------------------------------------------------------------------------

def check():
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    for uri in (RTPHDREXT_MID, RTPHDREXT_RID):
        if GstRtp.RTPHeaderExtension.create_from_uri(uri) is None:
            missing.append(uri)
    if missing:
        raise Failure(EXIT_MISSING, f"missing GStreamer elements: {', '.join(missing)}; run "
                                    f"scripts/test.sh (apt packages: {PACKAGES})")
    emit({"summary": True, "gstreamer": Gst.version_string()})


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="exit 0 if every GStreamer piece this script needs is installed")
    for name in ("whip", "whep"):
        p = sub.add_parser(name)
        p.add_argument("--url", required=True)
        p.add_argument("--token", required=True)
        p.add_argument("--seconds", type=float, default=10,
                       help="media time after connecting (SIGTERM ends it early, cleanly)")
        p.add_argument("--connect-timeout", type=float, default=15)
        p.add_argument("--dump-sdp", action="store_true", help="print offer and answer to stderr")
        p.add_argument("--verbose", action="store_true")
        if name == "whip":
            p.add_argument("--video", choices=("vp8-simulcast", "vp8", "h264"), default="vp8-simulcast")
            p.add_argument("--audio", action="store_true")
            p.add_argument("--width", type=int, default=1280)
            p.add_argument("--height", type=int, default=720)
            p.add_argument("--fps", type=int, default=30)
            p.add_argument("--pattern", default="smpte",
                           help="videotestsrc pattern; smpte keeps vp8enc near each layer's target "
                                "bitrate (ball: a few dozen kbit/s)")
            p.add_argument("--bitrate", type=int, default=1_500_000, help="bit/s (vp8, h264)")
            p.add_argument("--keyframe-interval", type=int, default=90, help="frames between keyframes")
            p.add_argument("--cpu-used", type=int, default=16, help="vp8enc speed (-16..16)")
            p.add_argument("--h264-profile-level-id", default="42e01f",
                           help="profile-level-id to offer, or 'native' for the encoder's own (42c01f)")
        else:
            p.add_argument("--video-codecs", default="vp8,h264", help="offered, in order: vp8,h264")
            p.add_argument("--no-audio", action="store_true")
            p.add_argument("--twcc", choices=("video", "all", "none"), default="video",
                           help="m-lines offering transport-wide CC feedback (webrtcbin offers none "
                                "unless asked; video only is what this viewer asks by default)")
            p.add_argument("--min-frames", type=int, default=0, help="fail if fewer frames decoded")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    Gst.init(None)
    session = None
    try:
        if args.command == "check":
            check()
            return 0
        session = Publisher(args) if args.command == "whip" else Viewer(args)
        session.run()
        return 0
    except Failure as failure:
        print(f"parley_gst {args.command}: {failure}", file=sys.stderr, flush=True)
        if session is not None:
            status = session.close(args.token)
            summary = session.snapshot()
            summary.update(summary=True, error=str(failure), delete_status=status)
            emit(summary)
        return failure.code


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
