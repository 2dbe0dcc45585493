// SDK unit tests: protocol v1 frames as the client writes and reads them (docs/protocol.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ParleyError, PROTOCOL_VERSION, bearerFetch, decodeMessage, encodeRequest, subscriptionFields, websocketUrl,
} from '../../../web-client/sdk/protocol.js';

test('hello carries type, id, version and token', () => {
  const frame = encodeRequest('hello', '1', { version: PROTOCOL_VERSION, token: 'jwt' });
  assert.deepEqual(JSON.parse(frame), { type: 'hello', id: '1', version: 1, token: 'jwt' });
});

test('fields cannot override type or id', () => {
  const frame = JSON.parse(encodeRequest('join', '7', { type: 'leave', id: 'x', room: 'r' }));
  assert.deepEqual(frame, { type: 'join', id: '7', room: 'r' });
});

test('requests need a type and an id', () => {
  assert.throws(() => encodeRequest('', '1'), TypeError);
  assert.throws(() => encodeRequest('ping', ''), TypeError);
  assert.deepEqual(JSON.parse(encodeRequest('ping', '2')), { type: 'ping', id: '2' });
});

test('update_subscription sends only what was asked for, in the wire names', () => {
  const size = encodeRequest('update_subscription', '3', subscriptionFields('TR_a', { width: 640, height: 360 }));
  assert.deepEqual(JSON.parse(size), { type: 'update_subscription', id: '3', track: 'TR_a', width: 640, height: 360 });
  assert.doesNotMatch(size, /paused|max_layer/);
  const cap = JSON.parse(encodeRequest('update_subscription', '4', subscriptionFields('TR_a', { maxLayer: 0 })));
  assert.deepEqual(cap, { type: 'update_subscription', id: '4', track: 'TR_a', max_layer: 0 });
  const pause = JSON.parse(encodeRequest('update_subscription', '5', subscriptionFields('TR_a', { paused: true })));
  assert.deepEqual(pause, { type: 'update_subscription', id: '5', track: 'TR_a', paused: true });
  const best = JSON.parse(encodeRequest('update_subscription', '6', subscriptionFields('TR_a', {})));
  assert.deepEqual(best, { type: 'update_subscription', id: '6', track: 'TR_a' });
});

test('publish carries the offer and the sources of its tracks', () => {
  const frame = JSON.parse(encodeRequest('publish', '9', {
    sdp: 'v=0\r\n', tracks: [{ track_id: 'abc', source: 'camera' }, { track_id: 'def', source: 'screen' }],
  }));
  assert.deepEqual(frame.tracks, [{ track_id: 'abc', source: 'camera' }, { track_id: 'def', source: 'screen' }]);
  assert.equal(frame.sdp, 'v=0\r\n');
});

test('a success reply is matched by reply_to', () => {
  const d = decodeMessage('{"type":"welcome","reply_to":"1","version":1,"server":"parley/0.1.0","identity":"i","name":"n"}');
  assert.equal(d.kind, 'reply');
  assert.ok(d.kind === 'reply');
  assert.equal(d.replyTo, '1');
  assert.equal(d.error, null);
  assert.equal(d.message.identity, 'i');
});

test('an error reply becomes a ParleyError with the server code', () => {
  const d = decodeMessage(JSON.stringify({ type: 'error', reply_to: '4', code: 'unknown_type', message: 'no such type' }));
  assert.ok(d.kind === 'reply' && d.error);
  assert.ok(d.error instanceof ParleyError);
  assert.equal(d.error.code, 'unknown_type');
  assert.equal(d.error.message, 'no such type');
});

test('frames without reply_to are events, including errors without an id', () => {
  const ev = decodeMessage('{"type":"participant_left","sid":"PA_1"}');
  assert.deepEqual(ev, { kind: 'event', message: { type: 'participant_left', sid: 'PA_1' } });
  const err = decodeMessage('{"type":"error","code":"rate_limited","message":"slow down"}');
  assert.equal(err.kind, 'event');
});

test('anything but a typed JSON object is bad_json', () => {
  for (const bad of ['not json', '[1,2]', 'null', '42', '"text"', '{"no":"type"}', '{"type":5}']) {
    assert.throws(() => decodeMessage(bad), (e) => e instanceof ParleyError && e.code === 'bad_json', bad);
  }
});

test('server origins become the /ws WebSocket URL; WebSocket URLs stay as given', () => {
  assert.equal(String(websocketUrl('http://127.0.0.1:8080')), 'ws://127.0.0.1:8080/ws');
  assert.equal(String(websocketUrl('https://meet.example/some/page?x=1')), 'wss://meet.example/ws?x=1');
  assert.equal(String(websocketUrl('wss://meet.example/custom')), 'wss://meet.example/custom');
  assert.equal(String(websocketUrl('/', 'https://meet.example/app/')), 'wss://meet.example/ws');
  assert.throws(() => websocketUrl('ftp://x'), (e) => e instanceof ParleyError && e.code === 'bad_url');
});

test('bearerFetch goes to the socket server over http(s) with the bearer token', async () => {
  const real = globalThis.fetch;
  /** @type {any[]} */
  const calls = [];
  globalThis.fetch = /** @type {any} */ (async (url, init) => { calls.push([String(url), init.headers.get('authorization'), init.method]); return new Response('ok'); });
  try {
    await bearerFetch(new URL('wss://call.example/ws'), 'tok', '/api/attachments/a1', { method: 'GET' });
    await bearerFetch(new URL('ws://127.0.0.1:8080/ws'), 'tok2', '/api/x', { headers: { authorization: 'forged' } });
  } finally {
    globalThis.fetch = real;
  }
  assert.deepEqual(calls, [
    ['https://call.example/api/attachments/a1', 'Bearer tok', 'GET'],
    ['http://127.0.0.1:8080/api/x', 'Bearer tok2', undefined],
  ]);
});
