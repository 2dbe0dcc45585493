// Reconnect delays: exponential, capped, with jitter so a server restart does not bring every
// client back in the same millisecond. Pure, so node can test it.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialDelay] ms before the first retry (default 500)
 * @property {number} [maxDelay] cap in ms (default 10 000)
 * @property {number} [factor] growth per attempt (default 2)
 * @property {number} [jitter] random share of each delay, 0..1 (default 0.5): 0 = fixed delays,
 *   1 = "full jitter" (anything from 0 to the exponential delay)
 * @property {number} [maxAttempts] give up after this many failed attempts (default: never)
 */

/** @type {Readonly<Required<Omit<BackoffOptions, 'maxAttempts'>>>} */
export const DEFAULT_BACKOFF = Object.freeze({ initialDelay: 500, maxDelay: 10_000, factor: 2, jitter: 0.5 });

/**
 * The delay before retry number `attempt` (0 = the first retry): `min(maxDelay, initialDelay ·
 * factor^attempt)`, of which the `jitter` share is scaled by `random()`.
 * @param {number} attempt integer ≥ 0
 * @param {BackoffOptions} [options]
 * @param {() => number} [random] in [0, 1); injectable for tests
 * @returns {number} milliseconds, an integer
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be an integer ≥ 0, got ${attempt}`);
  const { initialDelay, maxDelay, factor, jitter } = { ...DEFAULT_BACKOFF, ...options };
  if (!(initialDelay >= 0) || !(maxDelay >= 0) || !(factor >= 1)) {
    throw new RangeError('initialDelay and maxDelay must be ≥ 0 and factor ≥ 1');
  }
  // Computed in steps so large attempts saturate at the cap instead of becoming Infinity · 0.
  let ceiling = Math.min(initialDelay, maxDelay);
  for (let i = 0; i < attempt && ceiling < maxDelay; i++) ceiling = Math.min(maxDelay, ceiling * factor);
  const share = Math.min(1, Math.max(0, jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(ceiling * (1 - share) + ceiling * share * r);
}

/**
 * Whether to try again after `failures` failed attempts.
 * @param {number} failures
 * @param {BackoffOptions} [options]
 */
export function shouldRetry(failures, options = {}) {
  return options.maxAttempts === undefined || failures < options.maxAttempts;
}
