// Adaptive subscriptions: each observed video element tells the server what it needs, its
// rendered size in device pixels or nothing while it cannot be seen, so the server forwards the
// simulcast layer that fits and stops hidden ones.

/** @typedef {import('./protocol.js').SubscriptionWant} SubscriptionWant */

/**
 * @typedef {object} Watch
 * @property {HTMLVideoElement} video
 * @property {boolean} onScreen
 * @property {string} sent the last request, as JSON, so unchanged sizes are not sent again
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 */

export class AdaptiveSubscriptions {
  /** @type {Map<string, Watch>} by track sid */
  #watched = new Map();
  /** @type {ResizeObserver | null} */ #resizes = null;
  /** @type {IntersectionObserver | null} */ #intersections = null;
  #send;
  #debounce;

  /**
   * @param {(trackSid: string, want: SubscriptionWant) => Promise<unknown>} send
   * @param {number} [debounce] ms; layouts settle in bursts (resizing a window), so wait for them
   */
  constructor(send, debounce = 250) {
    this.#send = send;
    this.#debounce = debounce;
  }

  /**
   * @param {string} trackSid
   * @param {HTMLVideoElement} video
   */
  observe(trackSid, video) {
    this.unobserve(trackSid);
    // Created on first use: node (SDK unit tests) has neither observer.
    this.#resizes ??= new ResizeObserver((entries) => entries.forEach((e) => this.#changed(e.target)));
    this.#intersections ??= new IntersectionObserver((entries) => {
      for (const e of entries) this.#changed(e.target, e.isIntersecting);
    });
    this.#watched.set(trackSid, { video, onScreen: true, sent: '', timer: undefined });
    // Both observers report the current state right away, which sends the first size.
    this.#resizes.observe(video);
    this.#intersections.observe(video);
  }

  /** @param {string} trackSid */
  unobserve(trackSid) {
    const w = this.#watched.get(trackSid);
    if (!w) return;
    clearTimeout(w.timer);
    this.#watched.delete(trackSid);
    if ([...this.#watched.values()].some((o) => o.video === w.video)) return;
    this.#resizes?.unobserve(w.video);
    this.#intersections?.unobserve(w.video);
  }

  clear() {
    [...this.#watched.keys()].forEach((sid) => this.unobserve(sid));
  }

  /** @param {Element} video @param {boolean} [onScreen] */
  #changed(video, onScreen) {
    for (const [sid, w] of this.#watched) {
      if (w.video !== video) continue;
      if (onScreen !== undefined) w.onScreen = onScreen;
      clearTimeout(w.timer);
      w.timer = setTimeout(() => this.#report(sid, w), this.#debounce);
    }
  }

  /** @param {string} sid @param {Watch} w */
  #report(sid, w) {
    const width = Math.round(w.video.clientWidth * devicePixelRatio);
    const height = Math.round(w.video.clientHeight * devicePixelRatio);
    // Zero size: display:none, or not in the document any more.
    /** @type {SubscriptionWant} */
    const want = w.onScreen && width > 0 && height > 0 ? { width, height } : { paused: true };
    const key = JSON.stringify(want);
    if (key === w.sent) return;
    w.sent = key;
    this.#send(sid, want).catch((err) => {
      if (this.#watched.get(sid) === w) w.sent = ''; // let the next change try again
      console.warn('parley: update_subscription failed', err);
    });
  }
}
