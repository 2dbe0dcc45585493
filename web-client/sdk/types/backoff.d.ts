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
export function retry(h: RetryHooks, reason: string): Promise<{
    attempts: number;
} | {
    reason: string;
} | null>;
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
export type RetryHooks = {
    backoff: BackoffOptions;
    /**
     * stops the loop (it then resolves `null`)
     */
    signal: AbortSignal;
    /**
     * one try; `refreshToken`: the last
     * one was refused for its token, so fetch a fresh one
     */
    attempt: (refreshToken: boolean) => Promise<void>;
    /**
     * whether a fresh token can be fetched at all
     */
    canRefresh: boolean;
    /**
     * before each try
     */
    waiting: (e: {
        attempt: number;
        delay: number;
        reason: string;
    }) => void;
    /**
     * after each failed try
     */
    failed: () => void;
    /**
     * error codes not worth retrying
     */
    fatal: readonly string[];
    /**
     * codes that mean the token was refused
     */
    tokenErrors: readonly string[];
};
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
