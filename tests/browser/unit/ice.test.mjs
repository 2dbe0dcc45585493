// SDK unit tests: when a connection counts as having lost its path (ice.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IceRecovery, iceConnected, watchIce, watchNetwork } from '../../../web-client/sdk/ice.js';

/** A peer connection whose ICE state the test sets. */
class FakePc extends EventTarget {
  iceConnectionState = 'new';
  /** @param {string} state */
  set(state) {
    this.iceConnectionState = state;
    this.dispatchEvent(new Event('iceconnectionstatechange'));
  }
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

test('failed is lost at once; disconnected is told at once and lost only after the grace; once per loss', async () => {
  const pc = new FakePc();
  let lost = 0;
  let disconnected = 0;
  watchIce(/** @type {any} */ (pc), (t) => { if (t === 'lost') lost++; else disconnected++; }, 30);
  pc.set('connected');
  pc.set('disconnected');
  await sleep(10);
  pc.set('connected'); // the browser recovered by itself within the grace
  await sleep(40);
  assert.equal(lost, 0);
  pc.set('disconnected');
  await sleep(40);
  assert.equal(lost, 1, 'disconnected past the grace');
  pc.set('failed');
  assert.equal(lost, 1, 'the same loss is reported once');
  pc.set('checking');
  pc.set('connected');
  pc.set('failed');
  assert.equal(lost, 2, 'a new loss after it came back');
  assert.equal(disconnected, 2, 'each disconnected is told at once (not again once lost)');
});

test('iceConnected resolves on connected, false on timeout or close', async () => {
  const pc = new FakePc();
  const up = iceConnected(/** @type {any} */ (pc), 1000);
  pc.set('checking');
  pc.set('completed');
  assert.equal(await up, true);
  assert.equal(await iceConnected(/** @type {any} */ (pc), 10), true, 'already up');
  pc.set('disconnected');
  assert.equal(await iceConnected(/** @type {any} */ (pc), 20), false);
  const closed = iceConnected(/** @type {any} */ (pc), 1000);
  pc.set('closed');
  assert.equal(await closed, false);
});

test('IceRecovery: disconnected probes the socket; lost restarts ICE once; rebuilds only if that fails', async () => {
  const log = [];
  const pcs = { subscriber: new FakePc(), publisher: new FakePc(), screen: new FakePc() };
  let busy = false;
  const recovery = new IceRecovery({
    busy: () => busy,
    probe: () => log.push('probe'),
    pc: (leg) => /** @type {any} */ (pcs[leg]),
    restart: async (leg) => { log.push(`restart ${leg}`); },
    rebuild: (leg) => log.push(`rebuild ${leg}`),
  }, 30);
  const pc = pcs.subscriber;
  recovery.trouble('subscriber', 'disconnected');
  assert.deepEqual(log, ['probe']);
  recovery.trouble('subscriber', 'lost');
  recovery.trouble('subscriber', 'lost'); // one restart at a time per connection
  assert.deepEqual(log, ['probe', 'restart subscriber']);
  pc.set('connected'); // the restart brought it back
  recovery.trouble('publisher', 'lost'); // this one never comes back
  await sleep(60);
  assert.deepEqual(log.slice(2), ['restart publisher', 'rebuild publisher']);
  busy = true;
  recovery.trouble('screen', 'disconnected');
  assert.equal(log.filter((l) => l === 'probe').length, 1, 'reconnecting: nothing to do');
});

test('watchNetwork: a network change or coming back online is told until stopped', () => {
  const connection = new EventTarget();
  const window = new EventTarget();
  let changes = 0;
  const stop = watchNetwork(() => changes++, { connection, window });
  connection.dispatchEvent(new Event('change'));
  window.dispatchEvent(new Event('online'));
  window.dispatchEvent(new Event('offline'));
  assert.equal(changes, 2);
  stop();
  connection.dispatchEvent(new Event('change'));
  assert.equal(changes, 2, 'stopped');
  assert.doesNotThrow(() => watchNetwork(() => {}, { connection: null, window: null })(), 'no API: nothing to watch');
});
