//! A real non-browser WebRTC stack against the real server: GStreamer's `webrtcbin` with
//! libnice (`tests/gst/parley_gst.py`, PyGObject on Debian's `/usr/bin/python3`). A WHIP
//! publisher with 3-layer RID simulcast the way webrtcbin offers it (no `a=msid`) and one
//! with H264, watched by a GStreamer WHEP viewer that decodes and by a WebSocket subscriber.
//!
//! These tests fail, never skip, when GStreamer is missing: `scripts/test.sh` installs it.

use loadtest::SyntheticClient;
use parley_e2e::{publisher_grants, viewer_grants, TestServer};
use signaling::protocol::{ClientMessage, ServerMessage, TrackKind};
use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Debian's interpreter: the one `python3-gi` installs into (a pyenv python has no `gi`).
const PYTHON: &str = "/usr/bin/python3";

/// Each test encodes three VP8 layers and decodes one; two at once would starve two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn script() -> String {
    format!("{}/gst/parley_gst.py", env!("CARGO_MANIFEST_DIR"))
}

/// Panics (the test fails, it is not skipped) unless python3-gi and every GStreamer element
/// the client needs are installed.
fn require_gstreamer() {
    let hint = "run scripts/test.sh, which installs python3-gi gir1.2-gst-plugins-bad-1.0 \
                gstreamer1.0-nice gstreamer1.0-plugins-{base,good,bad,ugly}";
    match std::process::Command::new(PYTHON)
        .arg(script())
        .arg("check")
        .output()
    {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "the GStreamer client cannot run ({}): {}{}\n{hint}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(err) => panic!("{PYTHON} cannot be started ({err}); {hint}"),
    }
}

/// One run of `parley_gst.py`: its JSON lines as they arrive, and its stderr.
struct GstClient {
    what: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl GstClient {
    fn spawn(what: &'static str, args: &[&str]) -> Self {
        let mut child = Command::new(PYTHON)
            .arg(script())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("{what}: cannot start {PYTHON}: {err}"));
        let lines: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let stderr: Arc<Mutex<String>> = Arc::default();
        let stdout = child.stdout.take().expect("stdout piped");
        let errout = child.stderr.take().expect("stderr piped");
        let sink = lines.clone();
        let out_reader = tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(value) => sink.lock().unwrap().push(value),
                    Err(_) => eprintln!("{what} (not JSON): {line}"),
                }
            }
        });
        let sink = stderr.clone();
        let err_reader = tokio::spawn(async move {
            let mut reader = BufReader::new(errout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("{what}: {line}");
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Self {
            what,
            child,
            lines,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().clone()
    }

    /// The first line `condition` accepts; panics on timeout or if the client exits first.
    async fn wait_for(
        &mut self,
        description: &str,
        timeout: Duration,
        condition: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| condition(l)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "{}: exited ({status}) before {description}; stdout: {:?}; stderr: {}",
                    self.what,
                    self.lines(),
                    self.stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {description} within {timeout:?}; stdout: {:?}; stderr: {}",
                self.what,
                self.lines(),
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the client's media phase now (SIGTERM: it sends DELETE and prints its summary),
    /// then [`Self::finish`]es.
    async fn stop(self, timeout: Duration) -> (Vec<serde_json::Value>, serde_json::Value) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        self.finish(timeout).await
    }

    /// Waits for the client to end by itself (after its `--seconds`); asserts it succeeded and
    /// returns its per-second lines and its summary.
    async fn finish(mut self, timeout: Duration) -> (Vec<serde_json::Value>, serde_json::Value) {
        let status: ExitStatus = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: still running after {timeout:?}", self.what))
            .expect("wait");
        for reader in self.readers.drain(..) {
            let _ = reader.await;
        }
        let lines = self.lines();
        assert!(
            status.success(),
            "{} failed ({status}): {}; stdout: {lines:?}",
            self.what,
            self.stderr.lock().unwrap()
        );
        let summary = lines
            .iter()
            .rev()
            .find(|l| l["summary"] == true)
            .cloned()
            .unwrap_or_else(|| panic!("{}: no summary line in {lines:?}", self.what));
        let seconds = lines.into_iter().filter(|l| l.get("t").is_some()).collect();
        (seconds, summary)
    }
}

/// Asks the server for at most simulcast layer `max_layer` (0 = smallest) of `track`.
async fn request_layer(client: &SyntheticClient, track: &str, max_layer: u8) {
    let reply = client
        .signaling()
        .request(|id| ClientMessage::UpdateSubscription {
            id,
            track: track.to_owned(),
            paused: false,
            max_layer: Some(max_layer),
            width: None,
            height: None,
        })
        .await
        .expect("update_subscription");
    assert!(matches!(reply, ServerMessage::Ok { .. }), "{reply:?}");
}

/// The rate one subscriber receives a track at, over a sliding window, sampled every 20 ms
/// from its receipt (`payload_bytes`).
struct RateMeter<'a> {
    client: &'a SyntheticClient,
    track: String,
    samples: VecDeque<(Instant, u64)>,
}

const RATE_WINDOW: Duration = Duration::from_millis(250);
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

impl<'a> RateMeter<'a> {
    fn new(client: &'a SyntheticClient, track: &str) -> Self {
        Self {
            client,
            track: track.to_owned(),
            samples: VecDeque::new(),
        }
    }

    fn bytes(&self) -> u64 {
        self.client
            .view()
            .received
            .get(&self.track)
            .map_or(0, |r| r.payload_bytes)
    }

    /// Takes a sample; returns the bit rate over the last `RATE_WINDOW` once it is covered.
    fn sample(&mut self) -> Option<f64> {
        let now = Instant::now();
        self.samples.push_back((now, self.bytes()));
        while self
            .samples
            .get(1)
            .is_some_and(|(t, _)| now.duration_since(*t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let (first_at, first_bytes) = *self.samples.front()?;
        let (_, last_bytes) = *self.samples.back()?;
        let span = now.duration_since(first_at);
        (span >= RATE_WINDOW).then(|| (last_bytes - first_bytes) as f64 * 8.0 / span.as_secs_f64())
    }

    /// The average bit rate over `span`.
    async fn average(&mut self, span: Duration) -> f64 {
        let (start, before) = (Instant::now(), self.bytes());
        tokio::time::sleep(span).await;
        let after = self.bytes();
        self.samples.clear();
        (after - before) as f64 * 8.0 / start.elapsed().as_secs_f64()
    }

    /// How long until the windowed rate satisfies `condition` (panics after `limit`).
    async fn time_until(
        &mut self,
        what: &str,
        limit: Duration,
        condition: impl Fn(f64) -> bool,
    ) -> Duration {
        let start = Instant::now();
        self.samples.clear();
        loop {
            if let Some(rate) = self.sample() {
                if condition(rate) {
                    return start.elapsed();
                }
            }
            assert!(
                start.elapsed() < limit,
                "{what}: the received rate did not change within {limit:?}"
            );
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }
}

/// The sid of `identity`'s video track once `client` receives at least `packets` on it.
async fn video_track_of(
    client: &SyntheticClient,
    identity: &'static str,
    packets: u64,
) -> (String, String) {
    let view = client
        .wait_until(
            "the GStreamer publisher's video at the WebSocket subscriber",
            Duration::from_secs(20),
            move |v| {
                v.participants.values().any(|p| {
                    p.identity == identity
                        && p.tracks.iter().any(|t| {
                            t.kind == TrackKind::Video
                                && v.received.get(&t.sid).is_some_and(|r| r.packets >= packets)
                        })
                })
            },
        )
        .await
        .unwrap();
    let track = view
        .participants
        .values()
        .find(|p| p.identity == identity)
        .and_then(|p| p.tracks.iter().find(|t| t.kind == TrackKind::Video))
        .unwrap()
        .clone();
    (track.sid, track.mime_type)
}

/// Checks a WHEP viewer's per-second lines: after its first decoded frame, every second has
/// frames, all of them of one of `sizes`; returns the size of the last second.
fn check_decoding(
    seconds: &[serde_json::Value],
    summary: &serde_json::Value,
    sizes: &[&str],
) -> String {
    let first = seconds
        .iter()
        .position(|s| s["frames"].as_u64() > Some(0))
        .unwrap_or_else(|| panic!("the WHEP viewer decoded nothing: {seconds:?} {summary}"));
    // The first second with frames and the last one may be partial.
    assert!(
        seconds.len() >= first + 5,
        "too few seconds of video: {seconds:?}"
    );
    let steady = &seconds[first + 1..seconds.len() - 1];
    for second in steady {
        let frames = second["frames"].as_u64().unwrap_or(0);
        assert!(
            frames >= 8,
            "the WHEP viewer stopped decoding (t={}: {frames} frames): {seconds:?}",
            second["t"]
        );
    }
    for size in summary["sizes"].as_object().expect("sizes").keys() {
        assert!(
            sizes.contains(&size.as_str()),
            "unexpected frame size {size}: {summary}"
        );
    }
    let last = steady.last().unwrap();
    format!("{}x{}", last["width"], last["height"])
}

/// A server with a WebSocket subscriber ("watcher") in `room`, and the room's WHIP URL.
async fn watched_room(room: &str) -> (TestServer, SyntheticClient, String) {
    let server = TestServer::start().await;
    let subscriber = SyntheticClient::join(
        &server.ws_url,
        &server.token("watcher", room, viewer_grants()),
        room,
    )
    .await
    .unwrap();
    let whip_url = format!("{}/whip/{room}", server.base_url);
    (server, subscriber, whip_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rid_simulcast_without_msid_reaches_whep_and_switches_layers_on_request() {
    let _one = ONE_AT_A_TIME.lock().await;
    require_gstreamer();
    let room = "gst-simulcast";
    let (server, subscriber, whip_url) = watched_room(room).await;
    let publisher_token = server.token("gst-camera", room, publisher_grants());
    // Layers q 320x180 ~150 kbit/s, h 640x360 ~500 kbit/s, f 1280x720 ~1.5 Mbit/s; it runs
    // until stopped.
    let mut publisher = GstClient::spawn(
        "gst whip publisher",
        &[
            "whip",
            "--url",
            &whip_url,
            "--token",
            &publisher_token,
            "--video",
            "vp8-simulcast",
            "--audio",
            "--pattern",
            "smpte",
            "--width",
            "1280",
            "--height",
            "720",
            "--seconds",
            "300",
        ],
    );
    let connected = publisher
        .wait_for("connected", Duration::from_secs(20), |l| {
            l["event"] == "connected"
        })
        .await;
    eprintln!("gst whip publisher: {connected}");

    let (track, mime_type) = video_track_of(&subscriber, "gst-camera", 60).await;
    assert_eq!(mime_type.to_ascii_lowercase(), "video/vp8");

    let whep_url = format!("{}/whep/{room}", server.base_url);
    let viewer_token = server.token("gst-viewer", room, viewer_grants());
    let viewer = GstClient::spawn(
        "gst whep viewer",
        &[
            "whep",
            "--url",
            &whep_url,
            "--token",
            &viewer_token,
            "--seconds",
            "30",
        ],
    );

    // The WebSocket subscriber first climbs to the full layer (its downlink estimate allows it
    // on loopback); then every requested switch, down or up, is within that estimate.
    let mut meter = RateMeter::new(&subscriber, &track);
    let climbed = meter
        .time_until(
            "the full layer at the WebSocket subscriber",
            Duration::from_secs(30),
            |r| r > 1_000_000.0,
        )
        .await;
    eprintln!("WebSocket subscriber on the full layer after {climbed:?}");
    // On a loaded machine a congestion event may send it down once more: measure the full
    // layer over two seconds it holds (within 30 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let high = loop {
        let high = meter.average(Duration::from_secs(2)).await;
        if high > 1_000_000.0 || tokio::time::Instant::now() >= deadline {
            break high;
        }
    };
    request_layer(&subscriber, &track, 0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let low = meter.average(Duration::from_secs(2)).await;
    eprintln!("layer 2: {high:.0} bit/s, layer 0: {low:.0} bit/s");
    assert!(
        high > 4.0 * low && low > 50_000.0,
        "the smallest layer (~150 kbit/s) and the largest (~1.5 Mbit/s) must be told apart: \
         {low:.0} vs {high:.0} bit/s"
    );
    let threshold = (low * high).sqrt();

    let mut switches = Vec::new();
    for round in 0..2 {
        request_layer(&subscriber, &track, 2).await;
        let up = meter
            .time_until("up to layer 2", Duration::from_secs(15), |r| r > threshold)
            .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        request_layer(&subscriber, &track, 0).await;
        let down = meter
            .time_until("down to layer 0", Duration::from_secs(15), |r| {
                r < threshold
            })
            .await;
        eprintln!("round {round}: up in {up:?}, down in {down:?}");
        switches.push((up, down));
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    for (up, down) in &switches {
        assert!(
            *up <= Duration::from_secs(1),
            "switch up took {up:?}: {switches:?}"
        );
        // A lower rate shows only once the window has mostly passed the switch.
        assert!(
            *down <= Duration::from_secs(1) + RATE_WINDOW,
            "switch down took {down:?}: {switches:?}"
        );
    }

    // The WHEP viewer decoded all along, climbed to the full size, and ended on it.
    let (seconds, summary) = viewer.finish(Duration::from_secs(60)).await;
    eprintln!("gst whep viewer: {summary}");
    let last = check_decoding(&seconds, &summary, &["320x180", "640x360", "1280x720"]);
    assert_eq!(
        last, "1280x720",
        "the WHEP viewer ends on the full layer: {seconds:?}"
    );
    assert!(
        summary["sizes"]["1280x720"].as_u64() > Some(60),
        "{summary}"
    );
    assert!(summary["audio_buffers"].as_u64() > Some(500), "{summary}");
    assert_eq!(summary["delete_status"], 200, "{summary}");
    let mut codecs: Vec<String> = serde_json::from_value(summary["codecs"].clone()).unwrap();
    codecs.sort();
    assert_eq!(codecs, ["OPUS", "VP8"], "{summary}");

    let received = subscriber.view().received[&track].clone();
    assert!(received.packets > 1000, "{received:?}");
    subscriber.close().await;
    let (_, publisher_summary) = publisher.stop(Duration::from_secs(20)).await;
    eprintln!("gst whip publisher: {publisher_summary}");
    for layer in ["q", "h", "f"] {
        assert!(
            publisher_summary["sent"][layer]["packets"].as_u64() > Some(500),
            "every layer is sent: {publisher_summary}"
        );
    }
    assert!(
        publisher_summary["keyframe_requests"]["f"].as_u64() > Some(0),
        "the layer switches asked the full layer for keyframes: {publisher_summary}"
    );
    assert_eq!(
        publisher_summary["delete_status"], 200,
        "{publisher_summary}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_h264_whip_reaches_a_websocket_subscriber_and_a_whep_viewer() {
    let _one = ONE_AT_A_TIME.lock().await;
    require_gstreamer();
    let room = "gst-h264";
    let (server, subscriber, whip_url) = watched_room(room).await;
    let publisher_token = server.token("gst-obs", room, publisher_grants());
    let mut publisher = GstClient::spawn(
        "gst whip h264 publisher",
        &[
            "whip",
            "--url",
            &whip_url,
            "--token",
            &publisher_token,
            "--video",
            "h264",
            "--audio",
            "--width",
            "640",
            "--height",
            "360",
            "--bitrate",
            "800000",
            "--keyframe-interval",
            "60",
            "--seconds",
            "300",
        ],
    );
    publisher
        .wait_for("connected", Duration::from_secs(20), |l| {
            l["event"] == "connected"
        })
        .await;
    let (track, mime_type) = video_track_of(&subscriber, "gst-obs", 100).await;
    assert_eq!(mime_type.to_ascii_lowercase(), "video/h264");

    let whep_url = format!("{}/whep/{room}", server.base_url);
    let viewer_token = server.token("gst-viewer", room, viewer_grants());
    let viewer = GstClient::spawn(
        "gst whep h264 viewer",
        &[
            "whep",
            "--url",
            &whep_url,
            "--token",
            &viewer_token,
            "--seconds",
            "10",
        ],
    );
    let (seconds, summary) = viewer.finish(Duration::from_secs(40)).await;
    eprintln!("gst whep h264 viewer: {summary}");
    assert_eq!(check_decoding(&seconds, &summary, &["640x360"]), "640x360");
    let mut codecs: Vec<String> = serde_json::from_value(summary["codecs"].clone()).unwrap();
    codecs.sort();
    assert_eq!(codecs, ["H264", "OPUS"], "{summary}");
    assert_eq!(summary["delete_status"], 200, "{summary}");
    assert!(summary["audio_buffers"].as_u64() > Some(100), "{summary}");

    let received = subscriber.view().received[&track].clone();
    assert!(received.packets > 300, "{received:?}");
    subscriber.close().await;
    let (_, publisher_summary) = publisher.stop(Duration::from_secs(20)).await;
    eprintln!("gst whip h264 publisher: {publisher_summary}");
    assert_eq!(
        publisher_summary["delete_status"], 200,
        "{publisher_summary}"
    );
    server.stop().await;
}
