/** @typedef {import('./protocol.js').SubscriptionWant} SubscriptionWant */
/**
 * @typedef {object} Watch
 * @property {HTMLVideoElement} video
 * @property {boolean} onScreen
 * @property {string} sent the last request, as JSON, so unchanged sizes are not sent again
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 */
export class AdaptiveSubscriptions {
    /**
     * @param {(trackSid: string, want: SubscriptionWant) => Promise<unknown>} send
     * @param {number} [debounce] ms; layouts settle in bursts (resizing a window), so wait for them
     */
    constructor(send: (trackSid: string, want: SubscriptionWant) => Promise<unknown>, debounce?: number);
    /**
     * @param {string} trackSid
     * @param {HTMLVideoElement} video
     */
    observe(trackSid: string, video: HTMLVideoElement): void;
    /** @param {string} trackSid */
    unobserve(trackSid: string): void;
    clear(): void;
    #private;
}
export type SubscriptionWant = import("./protocol.js").SubscriptionWant;
export type Watch = {
    video: HTMLVideoElement;
    onScreen: boolean;
    /**
     * the last request, as JSON, so unchanged sizes are not sent again
     */
    sent: string;
    timer: ReturnType<typeof setTimeout> | undefined;
};
