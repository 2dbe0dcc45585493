/**
 * The delay before retry number `attempt` (0 = the first retry): `min(maxDelay, initialDelay ·
 * factor^attempt)`, of which the `jitter` share is scaled by `random()`.
 * @param {number} attempt integer ≥ 0
 * @param {BackoffOptions} [options]
 * @param {() => number} [random] in [0, 1); injectable for tests
 * @returns {number} milliseconds, an integer
 */
export function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
/**
 * Whether to try again after `failures` failed attempts.
 * @param {number} failures
 * @param {BackoffOptions} [options]
 */
export function shouldRetry(failures: number, options?: BackoffOptions): boolean;
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
export const DEFAULT_BACKOFF: Readonly<Required<Omit<BackoffOptions, "maxAttempts">>>;
export type BackoffOptions = {
    /**
     * ms before the first retry (default 500)
     */
    initialDelay?: number | undefined;
    /**
     * cap in ms (default 10 000)
     */
    maxDelay?: number | undefined;
    /**
     * growth per attempt (default 2)
     */
    factor?: number | undefined;
    /**
     * random share of each delay, 0..1 (default 0.5): 0 = fixed delays,
     * 1 = "full jitter" (anything from 0 to the exponential delay)
     */
    jitter?: number | undefined;
    /**
     * give up after this many failed attempts (default: never)
     */
    maxAttempts?: number | undefined;
};
