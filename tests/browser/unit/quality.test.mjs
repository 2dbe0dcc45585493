// SDK unit tests: connection quality from getStats samples.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  QUALITY_LIMITS, QualityMonitor, assessQuality, combineMetrics, inboundMetrics, outboundMetrics, pairRtt, qualityLevel,
  selectedPath,
} from '../../../web-client/sdk/quality.js';

const base = { packetLoss: 0, rtt: 20, jitter: 5, framesPerSecond: 30, stalled: false };

test('levels follow loss, round trip, jitter and frame rate', () => {
  assert.equal(qualityLevel(base), 'excellent');
  assert.equal(qualityLevel({ ...base, packetLoss: 0.05 }), 'good');
  assert.equal(qualityLevel({ ...base, packetLoss: 0.2 }), 'poor');
  assert.equal(qualityLevel({ ...base, rtt: 250 }), 'good');
  assert.equal(qualityLevel({ ...base, rtt: 900 }), 'poor');
  assert.equal(qualityLevel({ ...base, jitter: 50 }), 'good');
  assert.equal(qualityLevel({ ...base, jitter: 120 }), 'poor');
  assert.equal(qualityLevel({ ...base, framesPerSecond: 10 }), 'good');
  assert.equal(qualityLevel({ ...base, framesPerSecond: 3 }), 'poor');
  assert.equal(qualityLevel({ ...base, stalled: true }), 'lost');
});

test('the limits themselves still count as the better level', () => {
  const e = QUALITY_LIMITS.excellent;
  assert.equal(qualityLevel({ ...e, stalled: false }), 'excellent');
  const g = QUALITY_LIMITS.good;
  assert.equal(qualityLevel({ ...g, stalled: false }), 'good');
});

test('missing metrics do not count against a level', () => {
  assert.equal(qualityLevel({ packetLoss: null, rtt: null, jitter: null, framesPerSecond: null, stalled: false }), 'excellent');
});

test('inbound: loss, jitter and frame rate over the interval, for the chosen tracks only', () => {
  const prev = [
    { id: 'a', type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'mic', packetsReceived: 100, packetsLost: 0 },
    { id: 'v', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'cam', packetsReceived: 1000, packetsLost: 10 },
    { id: 'x', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'other', packetsReceived: 0, packetsLost: 0 },
  ];
  const cur = [
    { id: 'a', type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'mic', packetsReceived: 200, packetsLost: 0, jitter: 0.004 },
    { id: 'v', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'cam', packetsReceived: 1290, packetsLost: 20, jitter: 0.012, framesPerSecond: 24 },
    // Another participant's stream with heavy loss must not count.
    { id: 'x', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'other', packetsReceived: 10, packetsLost: 90, jitter: 1 },
  ];
  const m = inboundMetrics(prev, cur, { tracks: new Set(['mic', 'cam']), cameraTracks: new Set(['cam']) });
  assert.equal(m.packets, 390);
  assert.equal(m.packetLoss, 10 / 400);
  assert.equal(m.jitter, 12);
  assert.equal(m.framesPerSecond, 24);
});

test('inbound: a paused stream contributes neither stale jitter nor frame rate', () => {
  const prev = [{ id: 'v', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'cam', packetsReceived: 500, packetsLost: 0 }];
  const cur = [{ id: 'v', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'cam', packetsReceived: 500, packetsLost: 0, jitter: 0.5, framesPerSecond: 2 }];
  const m = inboundMetrics(prev, cur, { tracks: new Set(['cam']), cameraTracks: new Set(['cam']) });
  assert.deepEqual(m, { packets: 0, packetLoss: null, jitter: null, framesPerSecond: null });
});

test('inbound: late packets shrinking packetsLost are not negative loss', () => {
  const prev = [{ id: 'a', type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'mic', packetsReceived: 100, packetsLost: 5 }];
  const cur = [{ id: 'a', type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'mic', packetsReceived: 150, packetsLost: 3 }];
  assert.equal(inboundMetrics(prev, cur, { tracks: new Set(['mic']) }).packetLoss, 0);
});

test('outbound: the server receiver reports give loss, jitter and round trip; the camera gives fps', () => {
  const prev = [
    { id: 'o1', type: 'outbound-rtp', kind: 'video', mediaSourceId: 'ms', packetsSent: 100 },
    { id: 'r1', type: 'remote-inbound-rtp', timestamp: 1, packetsLost: 0, fractionLost: 0 },
  ];
  const cur = [
    { id: 'ms', type: 'media-source', kind: 'video', trackIdentifier: 'cam' },
    { id: 'o1', type: 'outbound-rtp', kind: 'video', mediaSourceId: 'ms', packetsSent: 160, framesPerSecond: 20 },
    { id: 'o2', type: 'outbound-rtp', kind: 'video', mediaSourceId: 'ms', packetsSent: 40, framesPerSecond: 19 },
    { id: 'r1', type: 'remote-inbound-rtp', timestamp: 2, packetsLost: 3, fractionLost: 0.03, jitter: 0.002, roundTripTime: 0.004 },
  ];
  const m = outboundMetrics(prev, cur, { cameraTracks: new Set(['cam']) });
  assert.equal(m.packets, 100);
  assert.equal(m.packetLoss, 0.03);
  assert.equal(m.jitter, 2);
  assert.equal(m.rtt, 4);
  assert.equal(m.framesPerSecond, 20);
});

test('outbound: without mediaSourceId (Firefox) the one video source is the camera', () => {
  const prev = [{ id: 'o1', type: 'outbound-rtp', kind: 'video', packetsSent: 100 }];
  const cur = [
    { id: 'ms-a', type: 'media-source', kind: 'audio', trackIdentifier: 'mic' },
    { id: 'ms-v', type: 'media-source', kind: 'video', trackIdentifier: 'cam' },
    { id: 'o1', type: 'outbound-rtp', kind: 'video', packetsSent: 160, framesPerSecond: 24 },
  ];
  assert.equal(outboundMetrics(prev, cur, { cameraTracks: new Set(['cam']) }).framesPerSecond, 24);
  // Camera off: not counted.
  assert.equal(outboundMetrics(prev, cur, { cameraTracks: new Set() }).framesPerSecond, null);
});

test('outbound: a receiver report that did not change says nothing about this interval', () => {
  const rr = { id: 'r1', type: 'remote-inbound-rtp', timestamp: 5, packetsLost: 9, fractionLost: 0.5, roundTripTime: 1 };
  const m = outboundMetrics([rr], [rr]);
  assert.equal(m.packetLoss, null);
  assert.equal(m.rtt, null);
});

test('outbound: reports about a layer that sent nothing this interval are left out', () => {
  // Dynacast paused the top layer after a keyframe burst; the server still reports its last jitter.
  const prev = [
    { id: 'o1', type: 'outbound-rtp', kind: 'video', packetsSent: 100 },
    { id: 'o3', type: 'outbound-rtp', kind: 'video', packetsSent: 900 },
    { id: 'r1', type: 'remote-inbound-rtp', localId: 'o1', timestamp: 1, packetsLost: 0, fractionLost: 0, jitter: 0.002 },
    { id: 'r3', type: 'remote-inbound-rtp', localId: 'o3', timestamp: 1, packetsLost: 0, fractionLost: 0, jitter: 0.09 },
  ];
  const cur = [
    { id: 'o1', type: 'outbound-rtp', kind: 'video', packetsSent: 160 },
    { id: 'o3', type: 'outbound-rtp', kind: 'video', packetsSent: 900 },
    { id: 'r1', type: 'remote-inbound-rtp', localId: 'o1', timestamp: 2, packetsLost: 0, fractionLost: 0, jitter: 0.003, roundTripTime: 0.004 },
    { id: 'r3', type: 'remote-inbound-rtp', localId: 'o3', timestamp: 2, packetsLost: 0, fractionLost: 0, jitter: 0.09, roundTripTime: 0.004 },
  ];
  const m = outboundMetrics(prev, cur);
  assert.equal(m.jitter, 3);
  assert.equal(m.packetLoss, 0);
  // Once the layer sends again, its reports count.
  const resumed = cur.map((s) => (s.id === 'o3' ? { ...s, packetsSent: 950 } : s));
  assert.equal(outboundMetrics(prev, resumed).jitter, 90);
});

test('pairRtt reads the selected candidate pair', () => {
  const report = [
    { id: 't', type: 'transport', selectedCandidatePairId: 'p2' },
    { id: 'p1', type: 'candidate-pair', currentRoundTripTime: 0.5 },
    { id: 'p2', type: 'candidate-pair', currentRoundTripTime: 0.012 },
  ];
  assert.equal(pairRtt(report), 12);
  assert.equal(pairRtt([{ id: 'p', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: 0.1 }]), 100);
  assert.equal(pairRtt([]), null);
});

test('combineMetrics keeps the worst of each and any stall', () => {
  const m = combineMetrics([
    { packetLoss: 0.01, rtt: 10, jitter: null, framesPerSecond: 30, stalled: false },
    { packetLoss: 0.04, rtt: null, jitter: 7, framesPerSecond: 12, stalled: false },
    { packetLoss: null, rtt: 50, jitter: 3, framesPerSecond: null, stalled: true },
  ]);
  assert.deepEqual(m, { packetLoss: 0.04, rtt: 50, jitter: 7, framesPerSecond: 12, stalled: true });
});

/** One participant (Bob) sending audio and camera video to us; we send a microphone. */
function sample({ bobAudio = 0, bobVideo = 0, sent = 0, rr = 0 } = {}) {
  return {
    pub: [
      { id: 'o', type: 'outbound-rtp', kind: 'audio', packetsSent: sent, mediaSourceId: 'm' },
      { id: 'm', type: 'media-source', kind: 'audio', trackIdentifier: 'my-mic' },
      { id: 'r', type: 'remote-inbound-rtp', timestamp: rr, packetsLost: 0, fractionLost: 0, roundTripTime: 0.002 },
    ],
    sub: [
      { id: 't', type: 'transport', selectedCandidatePairId: 'p' },
      { id: 'p', type: 'candidate-pair', currentRoundTripTime: 0.003 },
      { id: 'a', type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'bob-mic', packetsReceived: bobAudio, packetsLost: 0, jitter: 0.002 },
      { id: 'v', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'bob-cam', packetsReceived: bobVideo, packetsLost: 0, jitter: 0.004, framesPerSecond: 20 },
    ],
  };
}

const bob = (/** @type {{muted?: boolean}} */ o = {}) => ({
  sid: 'PA_bob',
  tracks: [
    { kind: 'audio', camera: false, muted: o.muted ?? false, paused: false, trackId: 'bob-mic' },
    { kind: 'video', camera: true, muted: false, paused: false, trackId: 'bob-cam' },
  ],
});

const input = (/** @type {any} */ over) => ({
  selfSid: 'PA_me', signalingUp: true, publisherState: 'connected', subscriberState: 'connected',
  sent: [{ kind: 'audio', camera: false, muted: false, trackId: 'my-mic' }], received: [bob()], ...over,
});

test('assessQuality: self from what it sends, each participant from what arrives of them', () => {
  const out = assessQuality(input({
    prev: sample({ bobAudio: 100, bobVideo: 1000, sent: 100, rr: 1 }),
    cur: sample({ bobAudio: 200, bobVideo: 1500, sent: 200, rr: 2 }),
  }));
  assert.deepEqual(out.map((r) => [r.sid, r.local, qualityLevel(r.metrics)]), [['PA_me', true, 'excellent'], ['PA_bob', false, 'excellent']]);
  assert.deepEqual(out[1].metrics, { packetLoss: 0, rtt: 3, jitter: 4, framesPerSecond: 20, stalled: false });
});

test('assessQuality: a participant whose unmuted audio stops arriving is lost', () => {
  const stalled = input({ prev: sample({ bobAudio: 100, sent: 10, rr: 1 }), cur: sample({ bobAudio: 100, sent: 20, rr: 2 }) });
  assert.equal(qualityLevel(assessQuality(stalled)[1].metrics), 'lost');
  // Muted audio may stop (servers may drop it): not a loss of connection.
  const muted = { ...stalled, received: [bob({ muted: true })] };
  assert.notEqual(qualityLevel(assessQuality(muted)[1].metrics), 'lost');
});

test('assessQuality: nothing sent while something should be, or signaling down, is lost for self', () => {
  const silent = input({ prev: sample({ sent: 50, rr: 1 }), cur: sample({ sent: 50, rr: 2 }) });
  assert.equal(qualityLevel(assessQuality(silent)[0].metrics), 'lost');
  const noSignaling = input({ prev: sample({ sent: 1, rr: 1 }), cur: sample({ sent: 90, rr: 2 }), signalingUp: false });
  assert.ok(assessQuality(noSignaling).every((r) => qualityLevel(r.metrics) === 'lost'));
});

test('assessQuality: connections still being set up are not judged; the first sample never stalls', () => {
  const connecting = input({ prev: sample(), cur: sample(), publisherState: 'connecting', subscriberState: 'new' });
  assert.deepEqual(assessQuality(connecting), []);
  const first = input({ prev: { pub: [], sub: [] }, cur: sample() });
  assert.ok(assessQuality(first).every((r) => !r.metrics.stalled));
  const failed = input({ prev: sample(), cur: sample(), publisherState: 'failed' });
  assert.equal(qualityLevel(assessQuality(failed)[0].metrics), 'lost');
});

test('QualityMonitor reports a level only when it changes', async () => {
  const events = [];
  let n = 0;
  const frames = [sample({ bobAudio: 0, sent: 0 }), sample({ bobAudio: 50, sent: 50, rr: 1 }), sample({ bobAudio: 100, sent: 100, rr: 2 }), sample({ bobAudio: 100, sent: 150, rr: 3 })];
  const monitor = new QualityMonitor(async () => input({ cur: frames[n++] }), (e) => events.push(`${e.participant}:${e.level}`));
  for (let i = 0; i < frames.length; i++) await monitor.sample();
  assert.deepEqual(events, ['PA_me:excellent', 'PA_bob:excellent', 'PA_bob:lost']);
  assert.equal(monitor.get('PA_bob')?.level, 'lost');
  monitor.forget('PA_bob');
  assert.equal(monitor.get('PA_bob'), null);
});

test('the path of a connection is its selected pair\'s local candidate: relay, tcp or udp', () => {
  /** @param {object} local @param {boolean} [viaTransport] */
  const stats = (local, viaTransport = true) => [
    ...(viaTransport ? [{ id: 'T', type: 'transport', selectedCandidatePairId: 'P' }] : []),
    { id: 'P', type: 'candidate-pair', localCandidateId: 'L', nominated: true, state: 'succeeded' },
    { id: 'L', type: 'local-candidate', ...local },
  ];
  const cases = [
    [stats({ candidateType: 'relay', protocol: 'udp', relayProtocol: 'tcp' }), 'relay'],
    [stats({ candidateType: 'host', protocol: 'tcp' }), 'tcp'],
    [stats({ candidateType: 'srflx', protocol: 'udp' }), 'udp'],
    [stats({ candidateType: 'host', protocol: 'udp' }, false), 'udp'],
    [[], null],
  ];
  for (const [cur, want] of cases) assert.equal(selectedPath(cur), want, JSON.stringify(cur));
});

test('QualityMonitor reports this client\'s path when it changes, even at the same level', () => {
  const events = [];
  const monitor = new QualityMonitor(async () => null, (e) => events.push(`${e.level}:${e.path}`));
  const metrics = { ...base };
  monitor.set('PA_me', true, metrics, 'udp');
  monitor.set('PA_me', true, metrics, 'udp');
  monitor.set('PA_me', true, metrics, 'relay');
  monitor.set('PA_bob', false, metrics);
  assert.deepEqual(events, ['excellent:udp', 'excellent:relay', 'excellent:undefined']);
  assert.equal(monitor.get('PA_me')?.path, 'relay');
});
