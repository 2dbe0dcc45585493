// SDK unit tests: how a publishing connection names its tracks to the server and switches its
// encodings. The server knows a track by the msid track id of its m-line in our offer, which
// Firefox makes up on its own (not `MediaStreamTrack.id`): `publish.tracks` and
// `publisher_layers` must go by that id. A fake RTCPeerConnection writes offers the way Firefox
// does, so node can run it.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Publisher, SIMULCAST_ENCODINGS, msidTrackIds } from '../../../web-client/sdk/publisher.js';

// Two m-lines of a real Firefox 153 offer (trimmed): the msid track ids are not the tracks' ids.
const FIREFOX_OFFER = [
  'v=0', 'o=mozilla...THIS_IS_SDPARTA-99.0 1298785888240588834 0 IN IP4 0.0.0.0', 's=-', 't=0 0',
  'a=group:BUNDLE 0 1', 'a=msid-semantic:WMS *',
  'm=video 9 UDP/TLS/RTP/SAVPF 120 124', 'c=IN IP4 0.0.0.0', 'a=sendonly',
  'a=extmap:9/sendonly urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id', 'a=mid:0',
  'a=msid:{3760d933-48f4-4246-a9a0-4bf0b907be86} {9c7152ae-8210-410f-a0a8-55629821f687}',
  'a=rid:q send', 'a=rid:h send', 'a=rid:f send', 'a=rtpmap:120 VP8/90000', 'a=simulcast:send q;h;f',
  'm=audio 0 UDP/TLS/RTP/SAVPF 109', 'c=IN IP4 0.0.0.0', 'a=bundle-only', 'a=sendonly', 'a=mid:1',
  'a=msid:{3760d933-48f4-4246-a9a0-4bf0b907be86} {4af55ccd-9359-4f76-bd91-d5420b1004cd}',
  'a=rtpmap:109 opus/48000/2', '',
].join('\r\n');

test('msidTrackIds reads the msid track id of each m-line by mid', () => {
  assert.deepEqual([...msidTrackIds(FIREFOX_OFFER)], [
    ['0', '{9c7152ae-8210-410f-a0a8-55629821f687}'],
    ['1', '{4af55ccd-9359-4f76-bd91-d5420b1004cd}'],
  ]);
  // Chromium: `\n` line ends work too, a track without a stream has `-`, and an m-line without
  // msid (a removed track's, inactive) has no entry.
  const chromium = [
    'v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', 'a=msid:- 5d1c', 'a=sendonly',
    'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:1', 'a=inactive', '',
  ].join('\n');
  assert.deepEqual([...msidTrackIds(chromium)], [['0', '5d1c']]);
  assert.equal(msidTrackIds('v=0\r\n').size, 0);
});

/** A sender that keeps its parameters the way browsers do (a copy out, a copy in). */
class FakeSender {
  /** @type {any[]} */ sets = [];
  /** @param {any} track @param {any[]} encodings */
  constructor(track, encodings) {
    this.track = track;
    this.encodings = encodings.map((e) => ({ active: true, ...e }));
  }

  getParameters() {
    return { transactionId: 'x', encodings: this.encodings.map((e) => ({ ...e })) };
  }

  /** @param {any} params */
  async setParameters(params) {
    this.encodings = params.encodings.map((/** @type {any} */ e) => ({ ...e }));
    this.sets.push(this.encodings.map((e) => (e.rid ?? '') + (e.active ? '+' : '-')).join(' '));
  }

  /** @param {any} track */
  async replaceTrack(track) {
    this.track = track;
  }
}

/** Writes offers like Firefox: a msid track id of its own per transceiver. */
class FakePeerConnection extends EventTarget {
  static last = /** @type {FakePeerConnection | null} */ (null);
  iceRestarts = 0;
  /** @type {{mid: string | null, sender: FakeSender, stream: any}[]} */ transceivers = [];
  /** @type {any} */ localDescription = null;
  /** @type {any} */ remoteDescription = null;
  signalingState = 'stable';
  connectionState = 'new';
  /** @type {any} */ onicecandidate = null;
  /** @type {any} */ onconnectionstatechange = null;

  constructor() {
    super();
    FakePeerConnection.last = this;
  }

  restartIce() {
    this.iceRestarts++;
  }

  /** @param {any} track @param {any} init */
  addTransceiver(track, init) {
    const t = { mid: null, sender: new FakeSender(track, init.sendEncodings ?? [{}]), stream: init.streams[0] };
    this.transceivers.push(t);
    return t;
  }

  async createOffer() {
    const lines = ['v=0'];
    this.transceivers.forEach((t, i) => {
      lines.push(`m=${t.sender.track?.kind ?? 'video'} 9 UDP/TLS/RTP/SAVPF 96`, `a=mid:${i}`,
        `a=msid:{${t.stream.id}} {transceiver-${i}}`);
    });
    return { type: 'offer', sdp: `${lines.join('\r\n')}\r\n` };
  }

  /** @param {any} desc */
  async setLocalDescription(desc) {
    this.transceivers.forEach((t, i) => { t.mid = String(i); });
    this.localDescription = desc;
    this.signalingState = 'have-local-offer';
  }

  /** @param {any} desc */
  async setRemoteDescription(desc) {
    this.remoteDescription = desc;
    this.signalingState = 'stable';
  }

  async addIceCandidate() {}

  removeTrack() {}

  close() {}
}

const realPc = globalThis.RTCPeerConnection;
beforeEach(() => {
  // @ts-ignore the fake covers what the publisher uses
  globalThis.RTCPeerConnection = FakePeerConnection;
});
afterEach(() => {
  globalThis.RTCPeerConnection = realPc;
});

/** @param {string} id @param {'audio' | 'video'} kind */
const track = (id, kind) => ({ id, kind, enabled: true });

/** A publisher whose server answers every offer, and the requests it sent. */
function publisher() {
  /** @type {any[]} */
  const requests = [];
  const pub = new Publisher({
    request: async (type, fields) => {
      requests.push({ type, ...fields });
      return { sdp: 'v=0\r\n' };
    },
    sendCandidate: () => {},
    onFailed: () => {},
  });
  const stream = { id: 'stream-1' };
  const camera = { trackId: 'cam-1', track: track('cam-1', 'video'), stream, source: /** @type {const} */ ('camera'), simulcast: true, muted: false };
  const mic = { trackId: 'mic-1', track: track('mic-1', 'audio'), stream, source: /** @type {const} */ ('microphone'), simulcast: false, muted: false };
  return { pub, requests, camera, mic };
}

test('publish names each track by the msid of its m-line, and publisher_layers finds the sender by it', async () => {
  const { pub, requests, camera, mic } = publisher();
  await pub.add([/** @type {any} */ (camera), /** @type {any} */ (mic)]);
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0].tracks, [
    { track_id: '{transceiver-0}', source: 'camera' },
    { track_id: '{transceiver-1}', source: 'microphone' },
  ]);
  assert.equal(pub.msidOf('cam-1'), '{transceiver-0}');
  const sender = /** @type {FakePeerConnection} */ (FakePeerConnection.last).transceivers[0].sender;
  assert.deepEqual(sender.encodings.map((e) => e.rid), SIMULCAST_ENCODINGS.map((e) => e.rid));

  // The MediaStreamTrack.id is not what the server says: nothing happens.
  assert.equal(await pub.applyLayers('cam-1', ['q']), false);
  assert.deepEqual(sender.sets, []);

  assert.equal(await pub.applyLayers('{transceiver-0}', ['q']), true);
  assert.deepEqual(sender.sets, ['q+ h- f-']);
  // The same set again changes nothing.
  await pub.applyLayers('{transceiver-0}', ['q']);
  assert.equal(sender.sets.length, 1);
  pub.close();
});

test('restartIce re-offers (after restartIce) and publishes the offer; not before the first answer', async () => {
  const { pub, requests, camera } = publisher();
  await pub.restartIce();
  assert.equal(requests.length, 0, 'nothing negotiated yet: nothing to restart');
  await pub.add([/** @type {any} */ (camera)]);
  await pub.restartIce();
  const pc = /** @type {FakePeerConnection} */ (FakePeerConnection.last);
  assert.equal(pc.iceRestarts, 1);
  assert.deepEqual(requests.map((r) => r.type), ['publish', 'publish']);
  assert.deepEqual(requests[1].tracks, [{ track_id: '{transceiver-0}', source: 'camera' }]);
  pub.close();
});

test('a muted camera switches every encoding off; unmuting restores the layers dynacast wants', async () => {
  const { pub, camera, mic } = publisher();
  await pub.add([/** @type {any} */ (camera), /** @type {any} */ (mic)]);
  const pc = /** @type {FakePeerConnection} */ (FakePeerConnection.last);
  const sender = pc.transceivers[0].sender;
  await pub.applyLayers('{transceiver-0}', ['q', 'h']);

  camera.muted = true;
  await pub.setMuted('cam-1');
  assert.equal(sender.track, null, 'the track is detached too');
  assert.equal(camera.track.enabled, false);
  assert.deepEqual(sender.encodings.map((e) => e.active), [false, false, false]);

  // Dynacast while muted: remembered, nothing switched on.
  await pub.applyLayers('{transceiver-0}', ['q']);
  assert.deepEqual(sender.encodings.map((e) => e.active), [false, false, false]);

  camera.muted = false;
  await pub.setMuted('cam-1');
  assert.equal(sender.track, camera.track);
  assert.deepEqual(sender.encodings.map((e) => e.active), [true, false, false]);
  assert.deepEqual(sender.sets, ['q+ h+ f-', 'q- h- f-', 'q+ h- f-']);

  // Audio mutes by `enabled` only: its one encoding stays on (silence is cheap and unmutes at once).
  mic.muted = true;
  await pub.setMuted('mic-1');
  assert.equal(mic.track.enabled, false);
  assert.deepEqual(pc.transceivers[1].sender.sets, []);
  pub.close();
});

test('a camera muted before it is published goes out with its encodings off', async () => {
  const { pub, camera } = publisher();
  camera.muted = true;
  await pub.add([/** @type {any} */ (camera)]);
  const sender = /** @type {FakePeerConnection} */ (FakePeerConnection.last).transceivers[0].sender;
  assert.equal(sender.track, null);
  assert.deepEqual(sender.encodings.map((e) => e.active), [false, false, false]);
  camera.muted = false;
  await pub.setMuted('cam-1');
  assert.deepEqual(sender.encodings.map((e) => e.active), [true, true, true]);
  pub.close();
});
