// SDK unit tests: reconnect delays.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_BACKOFF, backoffDelay, retry, shouldRetry } from '../../../web-client/sdk/backoff.js';

const fixed = (/** @type {number} */ r) => () => r;

test('without jitter the delay doubles from initialDelay up to maxDelay', () => {
  const opts = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0 };
  const delays = [0, 1, 2, 3, 4, 5, 50].map((a) => backoffDelay(a, opts, fixed(0.7)));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('the defaults: 500 ms, doubling, half of each delay random, 10 s cap', () => {
  assert.deepEqual(DEFAULT_BACKOFF, { initialDelay: 500, maxDelay: 10_000, factor: 2, jitter: 0.5 });
  // random() = 0: the fixed half only; random() → 1: the whole delay.
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, {}, fixed(0))), [250, 500, 1000, 2000, 4000, 5000, 5000]);
  assert.deepEqual([0, 1, 2, 5, 6].map((a) => backoffDelay(a, {}, fixed(0.999999))), [500, 1000, 2000, 10_000, 10_000]);
  assert.equal(backoffDelay(2, {}, fixed(0.5)), 1500);
});

test('full jitter spreads delays from 0 to the exponential delay', () => {
  const opts = { initialDelay: 1000, maxDelay: 8000, jitter: 1 };
  assert.equal(backoffDelay(3, opts, fixed(0)), 0);
  assert.equal(backoffDelay(3, opts, fixed(0.25)), 2000);
  assert.equal(backoffDelay(3, opts, fixed(1)), 8000);
});

test('with real randomness every delay stays within its bounds and they are not all equal', () => {
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(2, {});
    assert.ok(d >= 1000 && d <= 2000, `delay ${d} outside [1000, 2000]`);
    seen.add(d);
  }
  assert.ok(seen.size > 10, `jitter produced only ${seen.size} distinct delays`);
});

test('huge attempt numbers saturate at the cap instead of overflowing', () => {
  assert.equal(backoffDelay(10_000, { jitter: 0 }), 10_000);
  assert.equal(backoffDelay(1e6, { initialDelay: 0, jitter: 0 }), 0);
  assert.equal(backoffDelay(3, { initialDelay: 20_000, maxDelay: 5000, jitter: 0 }), 5000);
});

test('out-of-range randomness and jitter are clamped', () => {
  assert.equal(backoffDelay(0, { initialDelay: 100, jitter: 5 }, fixed(2)), 100);
  assert.equal(backoffDelay(0, { initialDelay: 100, jitter: -1 }, fixed(0)), 100);
});

test('nonsense arguments are refused', () => {
  assert.throws(() => backoffDelay(-1), RangeError);
  assert.throws(() => backoffDelay(1.5), RangeError);
  assert.throws(() => backoffDelay(0, { factor: 0.5 }), RangeError);
  assert.throws(() => backoffDelay(0, { initialDelay: Number.NaN }), RangeError);
});

test('shouldRetry: forever by default, else up to maxAttempts failures', () => {
  assert.equal(shouldRetry(1_000_000), true);
  assert.equal(shouldRetry(2, { maxAttempts: 3 }), true);
  assert.equal(shouldRetry(3, { maxAttempts: 3 }), false);
  assert.equal(shouldRetry(0, { maxAttempts: 0 }), false);
});

/** Hooks for `retry` with no waiting; `results` say how each attempt ends (an error code, or 'ok'). */
function hooks(results, extra = {}) {
  const calls = [];
  return {
    calls,
    h: {
      backoff: { initialDelay: 0, maxDelay: 0, ...extra.backoff }, signal: new AbortController().signal,
      canRefresh: extra.canRefresh ?? true, fatal: ['forbidden'], tokenErrors: ['token_expired'],
      waiting: (e) => calls.push(`wait ${e.attempt}: ${e.reason}`), failed: () => calls.push('failed'),
      attempt: async (refresh) => {
        const r = results.shift();
        calls.push(`try${refresh ? ' (fresh token)' : ''}`);
        if (r !== 'ok') throw Object.assign(new Error(r), { code: r });
      },
    },
  };
}

test('retry: until one attempt works, fetching a fresh token once after a refusal', async () => {
  const { h, calls } = hooks(['unavailable', 'token_expired', 'ok']);
  assert.deepEqual(await retry(h, 'socket lost'), { attempts: 3 });
  assert.deepEqual(calls, ['wait 1: socket lost', 'try', 'failed', 'wait 2: unavailable', 'try', 'failed', 'wait 3: token_expired', 'try (fresh token)']);
});

test('retry: gives up on a fatal error, a second token refusal, or maxAttempts', async () => {
  assert.deepEqual(await retry(hooks(['forbidden', 'ok']).h, 'x'), { reason: 'forbidden' });
  assert.deepEqual(await retry(hooks(['token_expired', 'token_expired', 'ok']).h, 'x'), { reason: 'token_expired' });
  assert.deepEqual(await retry(hooks(['token_expired', 'ok'], { canRefresh: false }).h, 'x'), { reason: 'token_expired' });
  assert.deepEqual(await retry(hooks(['a', 'b', 'ok'], { backoff: { maxAttempts: 2 } }).h, 'x'), { reason: 'b' });
});

test('retry: an abort ends it with null', async () => {
  const { h } = hooks(['a', 'ok']);
  const abort = new AbortController();
  h.signal = abort.signal;
  h.backoff = { initialDelay: 60_000, maxDelay: 60_000 };
  const done = retry(h, 'x');
  abort.abort();
  assert.equal(await done, null);
});
