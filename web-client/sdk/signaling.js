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
  /** @type {Map<string, {resolve: (m: any) => void, reject: (e: Error) => void}>} */
  #pending = new Map();
  /** @type {ReturnType<typeof setInterval> | undefined} */ #keepalive;
  #closed = false;
  #handlers;

  /**
   * Open the socket; resolves once it is open.
   * @param {URL} url
   * @param {SignalingHandlers} handlers
   * @param {number} keepaliveInterval ms between pings; 0 = none
   * @returns {Promise<Signaling>}
   */
  static async open(url, handlers, keepaliveInterval) {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = ws.onclose = () => reject(new ParleyError('connect_failed', `cannot connect to ${url}`));
    });
    return new Signaling(ws, handlers, keepaliveInterval);
  }

  /** @param {WebSocket} ws @param {SignalingHandlers} handlers @param {number} keepaliveInterval */
  constructor(ws, handlers, keepaliveInterval) {
    this.#ws = ws;
    this.#handlers = handlers;
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
   * reply, or `not_connected` / `disconnected`).
   * @param {string} type @param {object} fields @returns {Promise<any>}
   */
  request(type, fields) {
    if (!this.open) return Promise.reject(new ParleyError('not_connected', `${type}: not connected`));
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
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
    if (decoded.error) waiter.reject(decoded.error);
    else waiter.resolve(decoded.message);
  }

  /** @param {number} code @param {string} reason */
  #closedWith(code, reason) {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    const err = new ParleyError('disconnected', `connection closed (${code}${reason ? ` ${reason}` : ''})`);
    for (const { reject } of this.#pending.values()) reject(err);
    this.#pending.clear();
    this.#handlers.onClose(code, reason);
  }
}
