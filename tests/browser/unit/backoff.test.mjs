// SDK unit tests: reconnect delays.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_BACKOFF, backoffDelay, shouldRetry } from '../../../web-client/sdk/backoff.js';

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
