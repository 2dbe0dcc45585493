// One signaling WebSocket: requests matched to their replies, events handed on, and a keepalive
// that notices a dead connection long before TCP would.

import { ParleyError, decodeMessage, encodeRequest } from './protocol.js';

/**
 * @typedef {object} SignalingHandlers
 * @property {(message: any) => void} onEvent a server frame that is not a reply
 * @property {(code: number, reason: string) => void} onClose once, whether the server closed,
 *   the network dropped, or `close()`/`drop()` was called
 * @property {(err: unknown) => void} onError frames that cannot be understood
 */

export class Signaling {
  /** @type {WebSocket} */ #ws;
  #nextId = 1;
  /** @type {Map<string, {resolve: (m: any) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout>}>} */
  #pending = new Map();
  #requestTimeout;
  /** @type {ReturnType<typeof setInterval> | undefined} */ #keepalive;
  #closed = false;
  #probing = false;
  #handlers;

  /**
   * Open the socket; resolves once it is open.
   * @param {URL} url
   * @param {SignalingHandlers} handlers
   * @param {{keepaliveInterval: number, requestTimeout: number}} timing ms between pings (0 =
   *   none); ms a request may wait for its reply
   * @returns {Promise<Signaling>}
   */
  static async open(url, handlers, timing) {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = ws.onclose = () => reject(new ParleyError('connect_failed', `cannot connect to ${url}`));
    });
    return new Signaling(ws, handlers, timing);
  }

  /**
   * @param {WebSocket} ws
   * @param {SignalingHandlers} handlers
   * @param {{keepaliveInterval: number, requestTimeout: number}} timing
   */
  constructor(ws, handlers, { keepaliveInterval, requestTimeout }) {
    this.#ws = ws;
    this.#handlers = handlers;
    this.#requestTimeout = requestTimeout;
    ws.onerror = null;
    ws.onmessage = (ev) => this.#onMessage(ev.data);
    ws.onclose = (ev) => this.#closedWith(ev.code, ev.reason);
    if (keepaliveInterval > 0) this.#startKeepalive(keepaliveInterval);
  }

  get open() {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN;
  }

  /**
   * Send a request; resolves with its reply, rejects with a `ParleyError` (the server's `error`
   * reply, or `not_connected` / `disconnected` / `timeout`). The timeout guards against replies
   * that never come, such as a `rate_limited` error sent without `reply_to`.
   * @param {string} type @param {object} fields @returns {Promise<any>}
   */
  request(type, fields) {
    if (!this.open) return Promise.reject(new ParleyError('not_connected', `${type}: not connected`));
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ParleyError('timeout', `${type}: no reply within ${this.#requestTimeout} ms`));
      }, this.#requestTimeout);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(encodeRequest(type, id, fields));
    });
  }

  /** Close politely; `onClose` follows when the close handshake is done. @param {number} code @param {string} reason */
  close(code, reason) {
    if (this.#ws.readyState <= WebSocket.OPEN) this.#ws.close(code, reason);
  }

  /**
   * Give up on the socket now rather than waiting for a close handshake that may never come
   * (the network is gone); `onClose` runs at once with code 1006.
   * @param {string} reason
   */
  drop(reason) {
    this.#ws.onclose = this.#ws.onmessage = this.#ws.onerror = null;
    try { this.#ws.close(4000, reason); } catch { /* already closing */ }
    this.#closedWith(1006, reason);
  }

  /**
   * Pings now; drops the socket if no reply comes within `timeout` ms (its network may be gone:
   * the caller saw ICE stop hearing back). One probe at a time.
   * @param {number} timeout
   */
  probe(timeout) {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    const timer = setTimeout(() => {
      this.#probing = false;
      this.drop('no reply to a probe');
    }, timeout);
    this.request('ping', {}).catch(() => {}).finally(() => {
      clearTimeout(timer);
      this.#probing = false;
    });
  }

  /** @param {number} interval */
  #startKeepalive(interval) {
    // A connection that died without a FIN looks open until TCP gives up, which takes minutes;
    // an unanswered ping finds out within two intervals.
    let waitingSince = 0;
    this.#keepalive = setInterval(() => {
      if (waitingSince && Date.now() - waitingSince >= interval) {
        this.drop('keepalive timeout');
        return;
      }
      if (waitingSince) return;
      waitingSince = Date.now();
      this.request('ping', {}).then(() => { waitingSince = 0; }, () => {});
    }, interval);
  }

  /** @param {unknown} data */
  #onMessage(data) {
    let decoded;
    try {
      decoded = decodeMessage(data);
    } catch (err) {
      return this.#handlers.onError(err);
    }
    if (decoded.kind === 'event') return this.#handlers.onEvent(decoded.message);
    const waiter = this.#pending.get(decoded.replyTo);
    if (!waiter) return;
    this.#pending.delete(decoded.replyTo);
    clearTimeout(waiter.timer);
    if (decoded.error) waiter.reject(decoded.error);
    else waiter.resolve(decoded.message);
  }

  /** @param {number} code @param {string} reason */
  #closedWith(code, reason) {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    const err = new ParleyError('disconnected', `connection closed (${code}${reason ? ` ${reason}` : ''})`);
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(err);
    }
    this.#pending.clear();
    this.#handlers.onClose(code, reason);
  }
}
