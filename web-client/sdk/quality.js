// Connection quality from WebRTC stats: packet loss, round-trip time, jitter and frame rate over
// the last sampling interval, folded into one of four levels. Works on plain stats objects (the
// values of an RTCStatsReport), so node can test it with recorded samples.

/** @typedef {'excellent' | 'good' | 'poor' | 'lost'} QualityLevel */

/**
 * @typedef {'udp' | 'tcp' | 'relay'} ConnectionPath how media reaches the server: straight over
 *   UDP or TCP, or through a TURN relay
 */

/**
 * @typedef {object} QualityMetrics
 * @property {number | null} packetLoss fraction (0..1) of packets lost over the interval
 * @property {number | null} rtt round-trip time to the server in ms
 * @property {number | null} jitter ms, the worst stream's
 * @property {number | null} framesPerSecond of the camera video, when it flows
 * @property {boolean} stalled media was expected and none moved, or the connection is down
 */

/** @typedef {{id: string, type: string, [field: string]: any}} StatsLike */

/** The worst value still allowed for each level. A missing metric does not count against it. */
export const QUALITY_LIMITS = Object.freeze({
  excellent: Object.freeze({ packetLoss: 0.02, rtt: 150, jitter: 30, framesPerSecond: 15 }),
  good: Object.freeze({ packetLoss: 0.08, rtt: 400, jitter: 80, framesPerSecond: 8 }),
});

/**
 * @param {QualityMetrics} m
 * @returns {QualityLevel}
 */
export function qualityLevel(m) {
  if (m.stalled) return 'lost';
  /** @param {{packetLoss: number, rtt: number, jitter: number, framesPerSecond: number}} limit */
  const within = (limit) => (m.packetLoss ?? 0) <= limit.packetLoss
    && (m.rtt ?? 0) <= limit.rtt
    && (m.jitter ?? 0) <= limit.jitter
    && (m.framesPerSecond === null || m.framesPerSecond >= limit.framesPerSecond);
  if (within(QUALITY_LIMITS.excellent)) return 'excellent';
  if (within(QUALITY_LIMITS.good)) return 'good';
  return 'poor';
}

/** @param {number | null} a @param {number | null | undefined} b */
const worst = (a, b) => (b === null || b === undefined || Number.isNaN(b) ? a : a === null ? b : Math.max(a, b));

/** @param {StatsLike[]} report */
const byId = (report) => new Map(report.map((s) => [s.id, s]));

/**
 * Received media of some tracks over one interval.
 * @param {StatsLike[]} prev the previous sample (`[]` for the first)
 * @param {StatsLike[]} cur
 * @param {{tracks: Set<string>, cameraTracks?: Set<string>}} which receiver `MediaStreamTrack`
 *   ids to count (`trackIdentifier`), and those whose frame rate counts
 * @returns {{packets: number, packetLoss: number | null, jitter: number | null, framesPerSecond: number | null}}
 */
export function inboundMetrics(prev, cur, which) {
  const before = byId(prev);
  let packets = 0;
  let lost = 0;
  /** @type {number | null} */ let jitter = null;
  /** @type {number | null} */ let framesPerSecond = null;
  for (const s of cur) {
    if (s.type !== 'inbound-rtp' || !which.tracks.has(s.trackIdentifier)) continue;
    const p = before.get(s.id);
    const received = Math.max(0, (s.packetsReceived ?? 0) - (p?.packetsReceived ?? 0));
    // packetsLost shrinks when late packets turn up; that is not negative loss.
    lost += Math.max(0, (s.packetsLost ?? 0) - (p?.packetsLost ?? 0));
    packets += received;
    if (received === 0) continue; // a paused stream's last jitter and rate are stale
    jitter = worst(jitter, typeof s.jitter === 'number' ? s.jitter * 1000 : null);
    if (s.kind === 'video' && which.cameraTracks?.has(s.trackIdentifier)) {
      framesPerSecond = worst(framesPerSecond, s.framesPerSecond ?? null);
    }
  }
  return { packets, packetLoss: packets + lost > 0 ? lost / (packets + lost) : null, jitter, framesPerSecond };
}

/**
 * Sent media over one interval, with the server's receiver reports about it.
 * @param {StatsLike[]} prev
 * @param {StatsLike[]} cur
 * @param {{cameraTracks?: Set<string>}} [which] sender `MediaStreamTrack` ids whose frame rate counts
 * @returns {{packets: number, packetLoss: number | null, jitter: number | null, rtt: number | null, framesPerSecond: number | null}}
 */
export function outboundMetrics(prev, cur, which = {}) {
  const before = byId(prev);
  const all = byId(cur);
  let packets = 0;
  /** @type {number | null} */ let framesPerSecond = null;
  // Firefox reports media-source stats but no `mediaSourceId` on outbound-rtp: with one video
  // source on the connection (the camera's), that is the one.
  const videoSources = cur.filter((s) => s.type === 'media-source' && s.kind === 'video');
  const onlyVideoSource = videoSources.length === 1 ? videoSources[0] : undefined;
  /** @type {Set<string>} outbound streams that sent nothing over the interval */
  const idle = new Set();
  for (const s of cur) {
    if (s.type !== 'outbound-rtp') continue;
    const sent = Math.max(0, (s.packetsSent ?? 0) - (before.get(s.id)?.packetsSent ?? 0));
    packets += sent;
    if (sent === 0) idle.add(s.id);
    const source = s.mediaSourceId === undefined ? onlyVideoSource : all.get(s.mediaSourceId);
    if (sent > 0 && s.kind === 'video' && which.cameraTracks?.has(source?.trackIdentifier)) {
      // Simulcast layers share the camera's rate; the best of them is what it captures.
      framesPerSecond = worst(framesPerSecond, s.framesPerSecond ?? null);
    }
  }
  /** @type {number | null} */ let packetLoss = null;
  /** @type {number | null} */ let jitter = null;
  /** @type {number | null} */ let rtt = null;
  for (const s of cur) {
    if (s.type !== 'remote-inbound-rtp') continue;
    // A report that did not change since the last sample says nothing about this interval; nor
    // does one about a stream that sent nothing in it (a simulcast layer paused because nobody
    // watches it): the server keeps reporting it, with the jitter of its last packets.
    const p = before.get(s.id);
    if (p && p.timestamp === s.timestamp && p.packetsLost === s.packetsLost) continue;
    if (s.localId !== undefined && idle.has(s.localId)) continue;
    packetLoss = worst(packetLoss, s.fractionLost ?? null);
    jitter = worst(jitter, typeof s.jitter === 'number' ? s.jitter * 1000 : null);
    rtt = worst(rtt, typeof s.roundTripTime === 'number' ? s.roundTripTime * 1000 : null);
  }
  return { packets, packetLoss, jitter, rtt, framesPerSecond };
}

/**
 * The round-trip time (ms) of the candidate pair ICE selected, from its connectivity checks.
 * @param {StatsLike[]} cur
 * @returns {number | null}
 */
export function pairRtt(cur) {
  const pair = selectedPair(cur, byId(cur));
  return typeof pair?.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
}

/**
 * The candidate pair ICE selected on one connection: the transport's, else a nominated one that
 * succeeded (browsers without `selectedCandidatePairId`).
 * @param {StatsLike[]} cur one connection's stats
 * @param {Map<string, StatsLike>} all the same, by id
 * @returns {StatsLike | undefined}
 */
function selectedPair(cur, all) {
  const transport = cur.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  return transport
    ? all.get(transport.selectedCandidatePairId)
    : cur.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
}

/**
 * How one connection's media travels, from its selected candidate pair's local candidate:
 * through a TURN relay, over TCP, or straight over UDP; `null` before a pair is selected.
 * @param {StatsLike[]} cur one connection's stats
 * @returns {ConnectionPath | null}
 */
export function selectedPath(cur) {
  const all = byId(cur);
  const pair = selectedPair(cur, all);
  const local = pair && all.get(pair.localCandidateId);
  if (!local) return null;
  if (local.candidateType === 'relay') return 'relay';
  return local.protocol === 'tcp' ? 'tcp' : 'udp';
}

/**
 * Fold the metrics of several legs (e.g. this client's upload and download) into one: the worst
 * of each, stalled if any is.
 * @param {QualityMetrics[]} parts
 * @returns {QualityMetrics}
 */
export function combineMetrics(parts) {
  /** @type {QualityMetrics} */
  const out = { packetLoss: null, rtt: null, jitter: null, framesPerSecond: null, stalled: false };
  for (const m of parts) {
    out.packetLoss = worst(out.packetLoss, m.packetLoss);
    out.rtt = worst(out.rtt, m.rtt);
    out.jitter = worst(out.jitter, m.jitter);
    // Frame rate: lower is worse.
    if (m.framesPerSecond !== null) {
      out.framesPerSecond = out.framesPerSecond === null ? m.framesPerSecond : Math.min(out.framesPerSecond, m.framesPerSecond);
    }
    out.stalled ||= m.stalled;
  }
  return out;
}

/**
 * What one sample needs to know besides the stats.
 * @typedef {object} QualityInput
 * @property {{pub: StatsLike[], sub: StatsLike[]}} prev the previous sample's stats (empty at first)
 * @property {{pub: StatsLike[], sub: StatsLike[]}} cur
 * @property {string} selfSid
 * @property {boolean} signalingUp whether the WebSocket is open
 * @property {RTCPeerConnectionState | null} publisherState null: not publishing
 * @property {RTCPeerConnectionState | null} subscriberState null: nothing received yet
 * @property {{kind: string, camera: boolean, muted: boolean, trackId: string}[]} sent this
 *   client's tracks (`trackId`: the sender's current `MediaStreamTrack.id`)
 * @property {{sid: string, tracks: {kind: string, camera: boolean, muted: boolean, paused: boolean, trackId: string}[]}[]} received
 *   per participant, the tracks this client receives of them (`trackId`: the receiver's track id)
 */

/**
 * Gathers a sample's input: both connections' stats, and what each carries.
 * @param {object} c
 * @param {{sid: string}} c.you this client's participant
 * @param {() => boolean} c.signalingUp
 * @param {() => boolean} c.stillYou false once the client left or rejoined meanwhile
 * @param {RTCPeerConnection | null} c.pub
 * @param {RTCPeerConnection | null} c.sub
 * @param {{source: string, muted: boolean, track: MediaStreamTrack}[]} c.sent tracks on `pub`
 * @param {{sid: string, tracks: {sid: string, kind: string, source: string, muted?: boolean}[]}[]} c.participants
 * @param {(sid: string) => {mediaTrack: MediaStreamTrack} | null} c.media received media by track sid
 * @param {(sid: string) => boolean} c.paused
 * @returns {Promise<Omit<QualityInput, 'prev'> | null>}
 */
export async function sampleInput(c) {
  /** @param {RTCPeerConnection | null} pc @returns {Promise<StatsLike[]>} */
  const stats = async (pc) => (pc && pc.connectionState !== 'closed' ? [...(await pc.getStats()).values()] : []);
  const [pubStats, subStats] = await Promise.all([stats(c.pub), stats(c.sub)]);
  if (!c.stillYou()) return null;
  return {
    cur: { pub: pubStats, sub: subStats },
    selfSid: c.you.sid,
    signalingUp: c.signalingUp(),
    publisherState: c.pub?.connectionState ?? null,
    subscriberState: c.sub?.connectionState ?? null,
    sent: c.sent.map((l) => ({ kind: l.track.kind, camera: l.source === 'camera', muted: l.muted, trackId: l.track.id })),
    received: c.participants.map((p) => ({
      sid: p.sid,
      tracks: p.tracks.flatMap((t) => {
        const media = c.media(t.sid);
        if (!media) return [];
        return [{ kind: t.kind, camera: t.source === 'camera', muted: Boolean(t.muted), paused: c.paused(t.sid), trackId: media.mediaTrack.id }];
      }),
    })),
  };
}

const PEER_DOWN = ['failed', 'disconnected', 'closed'];

/**
 * One sample's metrics: for this client (what it sends, judged by the server's receiver
 * reports) and for each participant (what arrives of them). Connections still being set up
 * are left out rather than reported as lost.
 * @param {QualityInput} input
 * @returns {{sid: string, local: boolean, metrics: QualityMetrics, path?: ConnectionPath | null}[]}
 */
export function assessQuality(input) {
  const { prev, cur, publisherState, subscriberState } = input;
  /** @param {RTCPeerConnectionState | null} state */
  const down = (state) => state !== null && PEER_DOWN.includes(state);
  /** @param {RTCPeerConnectionState | null} state */
  const judged = (state) => state === 'connected' || down(state);
  const signalingDown = !input.signalingUp;
  const subRtt = pairRtt(cur.sub);
  /** @type {{sid: string, local: boolean, metrics: QualityMetrics, path?: ConnectionPath | null}[]} */
  const out = [];

  if (publisherState !== null && judged(publisherState)) {
    const cameraTracks = new Set(input.sent.filter((t) => t.camera && !t.muted).map((t) => t.trackId));
    const up = outboundMetrics(prev.pub, cur.pub, { cameraTracks });
    // Muted audio still sends silence; muted video sends nothing.
    const expected = input.sent.some((t) => t.kind === 'audio' || !t.muted);
    out.push({
      sid: input.selfSid,
      local: true,
      path: selectedPath(cur.pub) ?? selectedPath(cur.sub),
      metrics: {
        packetLoss: up.packetLoss,
        rtt: pairRtt(cur.pub) ?? up.rtt,
        jitter: up.jitter,
        framesPerSecond: up.framesPerSecond,
        stalled: signalingDown || down(publisherState) || (expected && prev.pub.length > 0 && up.packets === 0),
      },
    });
  } else if (publisherState === null && (judged(subscriberState) || signalingDown)) {
    // Receive-only: the round trip is all there is to judge.
    out.push({
      sid: input.selfSid,
      local: true,
      path: selectedPath(cur.sub),
      metrics: { packetLoss: null, rtt: subRtt, jitter: null, framesPerSecond: null, stalled: signalingDown || down(subscriberState) },
    });
  }

  if (!judged(subscriberState)) return out;
  for (const p of input.received) {
    if (!p.tracks.length) continue;
    const m = inboundMetrics(prev.sub, cur.sub, {
      tracks: new Set(p.tracks.map((t) => t.trackId)),
      cameraTracks: new Set(p.tracks.filter((t) => t.camera && !t.paused).map((t) => t.trackId)),
    });
    // Audio flows whenever it is not muted (silence included); video may be paused on purpose.
    const expected = p.tracks.some((t) => t.kind === 'audio' && !t.muted);
    out.push({
      sid: p.sid,
      local: false,
      metrics: {
        packetLoss: m.packetLoss,
        rtt: subRtt,
        jitter: m.jitter,
        framesPerSecond: m.framesPerSecond,
        stalled: signalingDown || down(subscriberState) || (expected && prev.sub.length > 0 && m.packets === 0),
      },
    });
  }
  return out;
}

/** @typedef {import('./events.js').ConnectionQualityEvent} ConnectionQualityEvent */

/**
 * Samples every `interval` ms and reports levels that changed. The client supplies what a
 * sample needs (`snapshot`, null while there is nothing to judge) and gets events back.
 */
export class QualityMonitor {
  /** @type {ReturnType<typeof setInterval> | undefined} */ #timer;
  /** @type {{pub: StatsLike[], sub: StatsLike[]}} */ #last = { pub: [], sub: [] };
  /** @type {Map<string, {level: QualityLevel, metrics: QualityMetrics, path?: ConnectionPath | null}>} by participant sid */
  #levels = new Map();
  #snapshot;
  #emit;

  /**
   * @param {() => Promise<Omit<QualityInput, 'prev'> | null>} snapshot
   * @param {(e: ConnectionQualityEvent) => void} emit
   */
  constructor(snapshot, emit) {
    this.#snapshot = snapshot;
    this.#emit = emit;
  }

  /** (Re)start sampling with a clean slate: a new join, new connections. @param {number} interval */
  start(interval) {
    this.stop();
    this.#levels.clear();
    this.#timer = setInterval(() => {
      this.sample().catch((err) => console.warn('parley: quality sample failed', err));
    }, interval);
  }

  stop() {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#last = { pub: [], sub: [] };
  }

  async sample() {
    const input = await this.#snapshot();
    if (!input) return;
    const prev = this.#last;
    this.#last = input.cur;
    for (const r of assessQuality({ ...input, prev })) this.set(r.sid, r.local, r.metrics, r.path);
  }

  /** @param {string} sid */
  get(sid) {
    return this.#levels.get(sid) ?? null;
  }

  /** @param {string} sid */
  forget(sid) {
    this.#levels.delete(sid);
  }

  /**
   * Records a measurement; emits when the level changes, or (this client's own) the path.
   * @param {string} sid @param {boolean} local @param {QualityMetrics} metrics
   * @param {ConnectionPath | null} [path] this client's own connection only
   */
  set(sid, local, metrics, path) {
    const level = qualityLevel(metrics);
    const before = this.#levels.get(sid);
    const entry = local ? { level, metrics, path: path ?? null } : { level, metrics };
    this.#levels.set(sid, entry);
    if (before?.level !== level || (local && before?.path !== entry.path)) {
      this.#emit({ participant: sid, local, ...entry });
    }
  }
}
