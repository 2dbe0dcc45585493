// Connection quality from WebRTC stats: packet loss, round-trip time, jitter and frame rate over
// the last sampling interval, folded into one of four levels. Works on plain stats objects (the
// values of an RTCStatsReport), so node can test it with recorded samples.

/** @typedef {'excellent' | 'good' | 'poor' | 'lost'} QualityLevel */

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
  for (const s of cur) {
    if (s.type !== 'outbound-rtp') continue;
    const sent = Math.max(0, (s.packetsSent ?? 0) - (before.get(s.id)?.packetsSent ?? 0));
    packets += sent;
    const source = all.get(s.mediaSourceId);
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
    // A report that did not change since the last sample says nothing about this interval.
    const p = before.get(s.id);
    if (p && p.timestamp === s.timestamp && p.packetsLost === s.packetsLost) continue;
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
  const all = byId(cur);
  const transport = cur.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport
    ? all.get(transport.selectedCandidatePairId)
    : cur.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
  return typeof pair?.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
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
