// The wire format of signaling protocol v1 (docs/protocol.md). No DOM or WebRTC in here, so node
// can import and test it.

export const PROTOCOL_VERSION = 1;

/** @typedef {'audio' | 'video'} TrackKind */
/** @typedef {'camera' | 'microphone' | 'screen' | 'screen_audio' | 'unknown'} TrackSource */
/** @typedef {'publisher' | 'subscriber' | 'screen'} PeerTarget */

/**
 * @typedef {object} TrackInfo
 * @property {string} sid server track id; also the msid stream id in subscriber offers
 * @property {string} participant sid of the publishing participant
 * @property {TrackKind} kind
 * @property {TrackSource} source
 * @property {string} mime_type
 * @property {boolean} [muted] the publisher muted it (servers that support `set_track_muted`)
 */

/**
 * @typedef {object} ParticipantInfo
 * @property {string} sid unique per join
 * @property {string} identity
 * @property {string} name
 * @property {TrackInfo[]} tracks
 */

/**
 * A TURN server with short-lived credentials, from `joined.ice_servers`; an `RTCIceServer` as is.
 * @typedef {object} IceServer
 * @property {string[]} urls
 * @property {string} username
 * @property {string} credential
 */

/**
 * What `update_subscription` asks for; see `ParleyClient.setSubscription`.
 * @typedef {object} SubscriptionWant
 * @property {boolean} [paused]
 * @property {number} [maxLayer] 0 = smallest simulcast layer
 * @property {number} [width] rendered width in device pixels
 * @property {number} [height] rendered height in device pixels
 */

/** An `error` reply from the server, or a local failure with a code of our own. */
export class ParleyError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'ParleyError';
    /** The server's error code (docs/protocol.md) or a local one such as `not_connected`. */
    this.code = code;
  }
}

/**
 * One request frame. `type` and `id` win over same-named fields, and undefined fields are left
 * out (JSON drops them), so optional fields need no special casing by callers.
 * @param {string} type
 * @param {string} id unique per connection
 * @param {object} [fields]
 * @returns {string}
 */
export function encodeRequest(type, id, fields = {}) {
  if (!type) throw new TypeError('request type must be a non-empty string');
  if (!id) throw new TypeError('request id must be a non-empty string');
  return JSON.stringify({ ...fields, type, id });
}

/**
 * @typedef {{kind: 'reply', replyTo: string, message: any, error: ParleyError | null}
 *   | {kind: 'event', message: any}} Decoded
 */

/**
 * Classify one server frame: a reply to one of our requests (an `error` reply carries a
 * `ParleyError`), or an event. Throws `ParleyError` `bad_json` for anything that is not a JSON
 * object with a string `type`.
 * @param {unknown} data
 * @returns {Decoded}
 */
export function decodeMessage(data) {
  /** @type {any} */
  let message;
  try {
    message = JSON.parse(String(data));
  } catch {
    throw new ParleyError('bad_json', 'server sent invalid JSON');
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message) || typeof message.type !== 'string') {
    throw new ParleyError('bad_json', 'server sent a frame that is not a typed JSON object');
  }
  if (typeof message.reply_to === 'string') {
    const error = message.type === 'error'
      ? new ParleyError(String(message.code ?? 'internal'), String(message.message ?? ''))
      : null;
    return { kind: 'reply', replyTo: message.reply_to, message, error };
  }
  return { kind: 'event', message };
}

/**
 * The fields of `update_subscription` for one track.
 * @param {string} trackSid
 * @param {SubscriptionWant} want
 */
export function subscriptionFields(trackSid, want) {
  const { paused, maxLayer, width, height } = want;
  return { track: trackSid, paused, max_layer: maxLayer, width, height };
}

/**
 * The WebSocket URL for a server origin (`https://host` → `wss://host/ws`); WebSocket URLs are
 * used as given.
 * @param {string | URL} url
 * @param {string} [base] resolves relative URLs (a page's `location.href`)
 * @returns {URL}
 */
export function websocketUrl(url, base) {
  const ws = new URL(url, base);
  if (ws.protocol === 'http:' || ws.protocol === 'https:') {
    ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    ws.pathname = '/ws';
  } else if (ws.protocol !== 'ws:' && ws.protocol !== 'wss:') {
    throw new ParleyError('bad_url', `not an http(s) or ws(s) URL: ${ws}`);
  }
  return ws;
}

/**
 * A REST call to the server behind WebSocket URL `ws` with a bearer token.
 * @param {URL} ws @param {string} token @param {string} path e.g. `/api/attachments/…`
 * @param {RequestInit} init
 */
export function bearerFetch(ws, token, path, init) {
  const base = new URL(ws);
  base.protocol = ws.protocol === 'wss:' ? 'https:' : 'http:';
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(new URL(path, base), { ...init, headers });
}

/**
 * `POST /api/guest-token` (served on loopback or with `--guest-tokens`).
 * @param {string | URL} baseUrl
 * @param {string} name
 * @param {string} room
 * @returns {Promise<{token: string, identity: string, room: string}>}
 */
export async function fetchGuestToken(baseUrl, name, room) {
  const res = await fetch(new URL('/api/guest-token', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, room }),
  });
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    throw new ParleyError('guest_token_failed', `guest token: HTTP ${res.status} ${body}`.trim());
  }
  return res.json();
}

/**
 * Error codes after which retrying the same request cannot succeed; reconnecting gives up on
 * them unless a fresh token can be fetched.
 */
export const TOKEN_ERRORS = Object.freeze(['invalid_token', 'token_expired']);
export const FATAL_JOIN_ERRORS = Object.freeze(['forbidden', 'wrong_room', 'unsupported_version']);
