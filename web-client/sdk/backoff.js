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

/**
 * @typedef {object} RetryHooks
 * @property {BackoffOptions} backoff
 * @property {AbortSignal} signal stops the loop (it then resolves `null`)
 * @property {(refreshToken: boolean) => Promise<void>} attempt one try; `refreshToken`: the last
 *   one was refused for its token, so fetch a fresh one
 * @property {boolean} canRefresh whether a fresh token can be fetched at all
 * @property {(e: {attempt: number, delay: number, reason: string}) => void} waiting before each try
 * @property {() => void} failed after each failed try
 * @property {readonly string[]} fatal error codes not worth retrying
 * @property {readonly string[]} tokenErrors codes that mean the token was refused
 */

/**
 * Tries until one attempt succeeds, a fatal error, a second refusal of the token, or
 * `backoff.maxAttempts`. Resolves `{attempts}` on success, `{reason}` (the last error) on
 * giving up, `null` when aborted.
 * @param {RetryHooks} h
 * @param {string} reason why the first try is needed
 * @returns {Promise<{attempts: number} | {reason: string} | null>}
 */
export async function retry(h, reason) {
  let failures = 0;
  let refresh = false;
  let last = reason;
  while (shouldRetry(failures, h.backoff)) {
    const delay = backoffDelay(failures, h.backoff);
    h.waiting({ attempt: failures + 1, delay, reason: last });
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, delay);
      h.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(undefined); }, { once: true });
    });
    if (h.signal.aborted) return null;
    const refreshing = refresh;
    refresh = false;
    try {
      await h.attempt(refreshing);
      return h.signal.aborted ? null : { attempts: failures + 1 };
    } catch (err) {
      if (h.signal.aborted) return null;
      failures++;
      const code = /** @type {{code?: string}} */ (err).code ?? '';
      last = err instanceof Error ? err.message : String(err);
      h.failed();
      if (h.fatal.includes(code)) break;
      // The old token may not survive a server restart (random secret) or may have expired.
      if (h.tokenErrors.includes(code)) {
        if (refreshing || !h.canRefresh) break;
        refresh = true;
      }
    }
  }
  return h.signal.aborted ? null : { reason: last };
}
