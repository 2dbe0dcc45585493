// Parley browser SDK: signaling protocol v1 (docs/protocol.md) plus the two peer connections.
// Plain ES modules with JSDoc types, no build step: the server serves these files as they are.

import { AdaptiveSubscriptions } from './adaptive.js';
import { backoffDelay, shouldRetry } from './backoff.js';
import { Emitter } from './emitter.js';
import {
  FATAL_JOIN_ERRORS, PROTOCOL_VERSION, ParleyError, TOKEN_ERRORS, decodeMessage, encodeRequest,
  subscriptionFields, websocketUrl,
} from './protocol.js';
import { Publisher } from './publisher.js';
import { combineMetrics, inboundMetrics, outboundMetrics, pairRtt, qualityLevel } from './quality.js';

export { PROTOCOL_VERSION, ParleyError } from './protocol.js';
export { SIMULCAST_ENCODINGS } from './publisher.js';
export { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
export { qualityLevel, QUALITY_LIMITS } from './quality.js';
export { Emitter } from './emitter.js';

/** @typedef {import('./protocol.js').TrackKind} TrackKind */
/** @typedef {import('./protocol.js').TrackSource} TrackSource */
/** @typedef {import('./protocol.js').PeerTarget} PeerTarget */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').SubscriptionWant} SubscriptionWant */
/** @typedef {import('./publisher.js').LocalTrack} LocalTrack */
/** @typedef {import('./backoff.js').BackoffOptions} BackoffOptions */
/** @typedef {import('./quality.js').QualityLevel} QualityLevel */
/** @typedef {import('./quality.js').QualityMetrics} QualityMetrics */
/** @typedef {import('./quality.js').StatsLike} StatsLike */

/**
 * @typedef {object} TrackEvent
 * @property {ParticipantInfo} participant
 * @property {TrackInfo} track
 * @property {MediaStreamTrack} mediaTrack
 * @property {MediaStream} stream
 */

/**
 * @typedef {object} TrackMutedEvent
 * @property {ParticipantInfo} participant the publisher (`client.you` for this client's tracks)
 * @property {TrackInfo} track
 * @property {boolean} muted
 * @property {boolean} local whether it is one of this client's tracks
 */

/**
 * @typedef {object} ConnectionQualityEvent
 * @property {string} participant sid; this client's own sid when `local`
 * @property {boolean} local this client's connection to the server (what it sends), rather than
 *   what it receives of another participant
 * @property {QualityLevel} level
 * @property {QualityMetrics} metrics
 */

/**
 * @typedef {object} ParleyEvents
 * @property {ParticipantInfo} participantJoined also for everyone already in the room on `join`
 * @property {ParticipantInfo} participantLeft
 * @property {TrackEvent} trackSubscribed
 * @property {TrackEvent} trackUnsubscribed
 * @property {TrackMutedEvent} trackMuted
 * @property {{sid: string, level: number}[]} activeSpeakers loudest first; `[]` when nobody speaks
 * @property {ConnectionQualityEvent} connectionQuality when a level changes
 * @property {{attempt: number, delay: number, reason: string}} reconnecting the connection
 *   dropped; attempt `attempt` starts in `delay` ms
 * @property {{attempts: number, downtime: number}} reconnected back in the room, tracks
 *   published again; `downtime` in ms
 * @property {{code: number, reason: string}} disconnected for good: by `disconnect()`, or
 *   reconnecting gave up
 * @property {Error & {code?: string}} error
 */

/** @typedef {string | (() => string | Promise<string>)} TokenSource */

/**
 * @typedef {object} ClientOptions
 * @property {boolean} [reconnect] reconnect after the connection drops (default true)
 * @property {BackoffOptions} [backoff] delays between reconnect attempts
 * @property {number} [keepaliveInterval] ms between pings; a ping unanswered this long counts as
 *   a dropped connection (default 4000; 0 = off)
 * @property {number} [qualityInterval] ms between connection-quality samples (default 2000)
 */

const PEER_DOWN = ['failed', 'disconnected', 'closed'];

export class ParleyClient {
  /** @type {Emitter<ParleyEvents>} */
  #events = new Emitter();
  /** @type {Required<Omit<ClientOptions, 'backoff'>> & {backoff: BackoffOptions}} */
  #options;
  /** @type {WebSocket | null} */ #ws = null;
  /** @type {URL | null} */ #url = null;
  /** @type {TokenSource | null} */ #token = null;
  /** The token last used, reused by reconnects until the server refuses it. */
  /** @type {string | null} */ #tokenValueCache = null;
  #nextId = 1;
  /** @type {Map<string, {resolve: (m: any) => void, reject: (e: Error) => void}>} */
  #pending = new Map();
  /** @type {Publisher | null} */ #publisher = null;
  /** What this client publishes, by `LocalTrack.trackId`; kept across reconnects. */
  /** @type {Map<string, LocalTrack>} */ #locals = new Map();
  /** @type {RTCPeerConnection | null} */ #sub = null;
  // Server offers can arrive while one is being applied; each waits for the previous one.
  /** @type {Promise<void>} */ #subChain = Promise.resolve();
  /** @type {RTCIceCandidateInit[]} server candidates waiting for the subscriber's remote description */
  #subCandidates = [];
  /** Tracks that reached `ontrack` before we knew whose they are, by track sid. */
  /** @type {Map<string, {mediaTrack: MediaStreamTrack, stream: MediaStream}>} */
  #unmatched = new Map();
  /** Tracks announced through `trackSubscribed`, by track sid. */
  /** @type {Map<string, {mediaTrack: MediaStreamTrack, stream: MediaStream}>} */
  #subscribed = new Map();
  /** Track sids this client paused with `setSubscription`. */
  #paused = new Set();
  #adaptive = new AdaptiveSubscriptions((sid, want) => this.setSubscription(sid, want));
  #closedByUs = false;
  /** @type {AbortController | null} set while reconnecting */ #reconnect = null;
  /** @type {ReturnType<typeof setInterval> | undefined} */ #keepaliveTimer;
  /** @type {ReturnType<typeof setInterval> | undefined} */ #qualityTimer;
  /** @type {{pub: StatsLike[], sub: StatsLike[]}} */ #lastStats = { pub: [], sub: [] };
  /** @type {Map<string, {level: QualityLevel, metrics: QualityMetrics}>} by participant sid */
  #quality = new Map();
  // Requests newer servers understand; cleared when this one answers `unknown_type`.
  #supports = { set_track_muted: true, unpublish: true };

  /** Other participants in the room, by sid. @type {Map<string, ParticipantInfo>} */
  participants = new Map();
  /** This session as the server knows it, after `join`. @type {ParticipantInfo | null} */
  you = null;
  /** From `welcome`. @type {string | null} */ identity = null;
  /** @type {string | null} */ name = null;
  /** @type {string | null} */ room = null;

  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    this.#options = {
      reconnect: options.reconnect ?? true,
      backoff: options.backoff ?? {},
      keepaliveInterval: options.keepaliveInterval ?? 4000,
      qualityInterval: options.qualityInterval ?? 2000,
    };
  }

  /**
   * Fetch a guest token from the server's `/api/guest-token` (loopback or `--guest-tokens`).
   * @param {string | URL} baseUrl e.g. `location.origin`
   * @param {string} name
   * @param {string} room
   * @returns {Promise<{token: string, identity: string, room: string}>}
   */
  static async guestToken(baseUrl, name, room) {
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

  get publisherPc() { return this.#publisher?.pc ?? null; }
  get subscriberPc() { return this.#sub; }
  get connected() { return this.#ws?.readyState === WebSocket.OPEN; }
  /** Whether the connection dropped and the client is trying to get back. */
  get reconnecting() { return this.#reconnect !== null; }
  /** What this client publishes. @returns {LocalTrack[]} */
  get localTracks() { return [...this.#locals.values()]; }

  /**
   * @template {keyof ParleyEvents} K
   * @param {K} name
   * @param {(e: ParleyEvents[K]) => void} fn
   * @returns {() => void} removes the listener
   */
  on(name, fn) { return this.#events.on(name, fn); }

  /**
   * @template {keyof ParleyEvents} K
   * @param {K} name
   * @param {(e: ParleyEvents[K]) => void} fn
   * @returns {() => void} removes the listener
   */
  once(name, fn) { return this.#events.once(name, fn); }

  /**
   * @template {keyof ParleyEvents} K
   * @param {K} name
   * @param {(e: ParleyEvents[K]) => void} fn
   */
  off(name, fn) { this.#events.off(name, fn); }

  /** @param {unknown} err */
  #fail(err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (this.#events.listenerCount('error')) this.#events.emit('error', e);
    else console.error('parley:', e);
  }

  /**
   * Open the WebSocket and authenticate.
   * @param {string | URL} url server origin (`https://host`) or full WebSocket URL (`wss://host/ws`)
   * @param {TokenSource} token a JWT, or a function that fetches a fresh one (called now and
   *   again when reconnecting finds the old token expired or refused)
   * @returns {Promise<{version: number, server: string, identity: string, name: string}>}
   */
  async connect(url, token) {
    this.#closedByUs = false;
    this.#url = websocketUrl(url, globalThis.location?.href);
    this.#token = token;
    this.#tokenValueCache = null;
    return this.#open(await this.#tokenValue(false));
  }

  /** @param {boolean} refresh @returns {Promise<string>} */
  async #tokenValue(refresh) {
    if (!refresh && this.#tokenValueCache) return this.#tokenValueCache;
    const source = this.#token;
    if (typeof source === 'function') this.#tokenValueCache = await source();
    else if (source && !refresh) this.#tokenValueCache = source;
    else throw new ParleyError('token_unavailable', 'no way to get a fresh token');
    return this.#tokenValueCache;
  }

  /** @param {string} token */
  async #open(token) {
    const url = this.#url;
    if (!url) throw new ParleyError('not_connected', 'connect() was not called');
    const ws = new WebSocket(url);
    this.#ws = ws;
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = ws.onclose = () => reject(new ParleyError('connect_failed', `cannot connect to ${url}`));
    });
    ws.onerror = null;
    ws.onmessage = (ev) => this.#onMessage(ev.data);
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
    this.#startKeepalive(ws);
    const welcome = await this.#request('hello', { version: PROTOCOL_VERSION, token });
    this.identity = welcome.identity;
    this.name = welcome.name;
    return welcome;
  }

  /**
   * Join the room the token names. Emits `participantJoined` for everyone already there.
   * @param {string} room
   * @returns {Promise<{you: ParticipantInfo, participants: ParticipantInfo[]}>}
   */
  async join(room) {
    const reply = await this.#request('join', { room });
    this.room = reply.room;
    this.you = reply.you;
    this.participants.clear();
    this.#quality.clear();
    for (const p of reply.participants) this.participants.set(p.sid, p);
    this.#startQuality();
    for (const p of reply.participants) this.#events.emit('participantJoined', p);
    return { you: reply.you, participants: reply.participants };
  }

  /**
   * Publish the stream's tracks on the publisher connection (again callable later to add more).
   * The camera is sent as three simulcast layers (see `SIMULCAST_ENCODINGS`) unless
   * `options.simulcast` is `false`.
   * @param {MediaStream} stream
   * @param {{sources?: Record<string, TrackSource>, simulcast?: boolean}} [options] `sources`:
   *   source per `MediaStreamTrack.id`; defaults to camera for video, microphone for audio
   */
  async publish(stream, options = {}) {
    /** @type {LocalTrack[]} */
    const added = [];
    for (const track of stream.getTracks()) {
      if (this.#locals.has(track.id)) continue;
      const source = options.sources?.[track.id] ?? (track.kind === 'video' ? 'camera' : 'microphone');
      if (this.localTracks.some((l) => l.source === source)) {
        throw new ParleyError('already_publishing', `a ${source} track is already published`);
      }
      const simulcast = source === 'camera' && options.simulcast !== false;
      added.push({ trackId: track.id, track, stream, source, simulcast, muted: false });
    }
    if (!added.length) return;
    for (const local of added) this.#locals.set(local.trackId, local);
    try {
      await this.#publishLocals(added);
    } catch (err) {
      for (const local of added) this.#locals.delete(local.trackId);
      throw err;
    }
  }

  /** @param {LocalTrack[]} locals */
  async #publishLocals(locals) {
    const publisher = (this.#publisher ??= new Publisher({
      request: (type, fields) => this.#request(type, fields),
      sendCandidate: (c) => this.#sendCandidate('publisher', c),
    }));
    try {
      await publisher.add(locals);
    } catch (err) {
      // A connection that never got an answer is useless; the next publish starts afresh.
      if (this.#publisher === publisher && !publisher.negotiated) {
        publisher.close();
        this.#publisher = null;
      }
      throw err;
    }
  }

  /**
   * Share the screen: `getDisplayMedia`, published as one layer (no simulcast) with source
   * `screen`. Stopping it, from `unpublishTrack` or the browser's own "stop sharing", unpublishes it.
   * @param {DisplayMediaStreamOptions} [constraints]
   * @returns {Promise<MediaStream>}
   */
  async publishScreen(constraints = { video: { frameRate: 15 }, audio: false }) {
    if (this.localTracks.some((l) => l.source === 'screen')) {
      throw new ParleyError('already_publishing', 'the screen is already shared');
    }
    const stream = await navigator.mediaDevices.getDisplayMedia(constraints);
    /** @type {Record<string, TrackSource>} */
    const sources = {};
    for (const track of stream.getTracks()) {
      sources[track.id] = track.kind === 'video' ? 'screen' : 'screen_audio';
      track.addEventListener('ended', () => {
        if (this.#locals.has(track.id)) this.unpublishTrack(track).catch((err) => this.#fail(err));
      });
    }
    try {
      await this.publish(stream, { sources, simulcast: false });
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      throw err;
    }
    return stream;
  }

  /**
   * Stop publishing a track: the server is told (`unpublish`), so the others drop it at once,
   * and its m-line goes inactive. The track itself is stopped too.
   * @param {MediaStreamTrack | TrackSource} trackOrSource
   */
  async unpublishTrack(trackOrSource) {
    const local = this.#local(trackOrSource);
    if (!local) return;
    this.#locals.delete(local.trackId);
    local.track.stop();
    const info = this.you?.tracks.find((t) => t.source === local.source);
    if (info && this.#supports.unpublish) {
      await this.#optional('unpublish', { track: info.sid });
    }
    await this.#publisher?.remove(local.trackId);
  }

  /**
   * Mute or unmute one of this client's tracks by source (`microphone`, `camera`, ...). Works
   * locally in any case (see `Publisher.setMuted`); servers that support it also tell the others
   * (`trackMuted` on their side).
   * @param {TrackSource} source
   * @param {boolean} muted
   */
  async setMuted(source, muted) {
    const local = this.#local(source);
    if (!local) throw new ParleyError('not_published', `no ${source} track is published`);
    local.muted = muted;
    await this.#publisher?.setMuted(local.trackId);
    await this.#announceMute(local);
  }

  /** @param {TrackSource} source */
  isMuted(source) {
    return this.#local(source)?.muted ?? false;
  }

  /**
   * Send another capture (e.g. a different camera or microphone) in place of a published track,
   * without renegotiating. The old track is not stopped.
   * @param {TrackSource} source
   * @param {MediaStreamTrack} track
   */
  async replaceTrack(source, track) {
    const local = this.#local(source);
    if (!local) throw new ParleyError('not_published', `no ${source} track is published`);
    await this.#publisher?.replace(local.trackId, track);
    local.track = track;
  }

  /** @param {MediaStreamTrack | TrackSource} trackOrSource */
  #local(trackOrSource) {
    return this.localTracks.find((l) => (typeof trackOrSource === 'string'
      ? l.source === trackOrSource
      : l.track === trackOrSource || l.trackId === trackOrSource.id));
  }

  /** Tell the server our mute state once it knows the track. @param {LocalTrack} local */
  async #announceMute(local) {
    const info = this.you?.tracks.find((t) => t.source === local.source);
    if (!info || !this.#supports.set_track_muted || Boolean(info.muted) === local.muted) return;
    if (await this.#optional('set_track_muted', { track: info.sid, muted: local.muted })) info.muted = local.muted;
  }

  /**
   * A request the server may not know yet; `unknown_type` turns it off for this client.
   * @param {'set_track_muted' | 'unpublish'} type @param {object} fields
   * @returns {Promise<boolean>} whether the server accepted it
   */
  async #optional(type, fields) {
    try {
      await this.#request(type, fields);
      return true;
    } catch (err) {
      const code = /** @type {ParleyError} */ (err).code;
      if (code === 'unknown_type') this.#supports[type] = false;
      else if (code !== 'not_connected' && code !== 'disconnected') this.#fail(err);
      return false;
    }
  }

  /**
   * Choose what this client receives of one track (`update_subscription`): `{paused: true}` stops
   * it, `{maxLayer}` caps the simulcast layer (0 = smallest), `{width, height}` (rendered size in
   * device pixels) picks the smallest layer that covers it, `{}` asks for the best layer.
   * Rejects with a `ParleyError` (e.g. code `unknown_track`).
   * @param {string} trackSid
   * @param {SubscriptionWant} [want]
   * @returns {Promise<{type: 'ok', reply_to: string}>}
   */
  setSubscription(trackSid, want = {}) {
    if (want.paused) this.#paused.add(trackSid);
    else this.#paused.delete(trackSid);
    return this.#request('update_subscription', subscriptionFields(trackSid, want));
  }

  /**
   * Let a video element drive its track's subscription: its rendered size picks the simulcast
   * layer, and while it is hidden or off screen the track is paused. Ends by itself when the
   * track is unsubscribed.
   * @param {string} trackSid
   * @param {HTMLVideoElement} video
   * @returns {() => void} stops observing
   */
  observeVideo(trackSid, video) {
    this.#adaptive.observe(trackSid, video);
    return () => this.#adaptive.unobserve(trackSid);
  }

  /**
   * The last connection quality measured for a participant (this client's own sid for itself).
   * @param {string} participantSid
   */
  connectionQuality(participantSid) {
    return this.#quality.get(participantSid) ?? null;
  }

  /** Leave the room; the socket stays open. */
  async leave() {
    this.#stopReconnecting();
    // Tell the server first so the others see us go now, not after our ICE times out.
    const reply = this.connected ? this.#request('leave', {}) : Promise.resolve();
    this.#closePeers();
    this.#locals.clear();
    this.participants.clear();
    this.you = null;
    this.room = null;
    await reply;
  }

  /** Close both peer connections and the socket. */
  disconnect() {
    this.#closedByUs = true;
    const reconnecting = this.#reconnect !== null;
    this.#stopReconnecting();
    this.#closePeers();
    this.#locals.clear();
    this.participants.clear();
    this.you = null;
    this.room = null;
    const ws = this.#ws;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'client disconnect');
    else if (reconnecting) this.#events.emit('disconnected', { code: 1000, reason: 'client disconnect' });
  }

  /** @param {string} type @param {object} fields @returns {Promise<any>} */
  #request(type, fields) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ParleyError('not_connected', `${type}: not connected`));
    }
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      ws.send(encodeRequest(type, id, fields));
    });
  }

  /** @param {PeerTarget} target @param {RTCIceCandidate} c */
  #sendCandidate(target, c) {
    const { candidate, sdpMid, sdpMLineIndex, usernameFragment } = c.toJSON();
    // Optional for the server (it learns peer-reflexive addresses), so failures are noise.
    this.#request('ice_candidate', { target, candidate: { candidate, sdpMid, sdpMLineIndex, usernameFragment } })
      .catch(() => {});
  }

  /** @param {unknown} data */
  #onMessage(data) {
    let decoded;
    try {
      decoded = decodeMessage(data);
    } catch (err) {
      return this.#fail(err);
    }
    if (decoded.kind === 'reply') {
      const waiter = this.#pending.get(decoded.replyTo);
      if (!waiter) return;
      this.#pending.delete(decoded.replyTo);
      if (decoded.error) waiter.reject(decoded.error);
      else waiter.resolve(decoded.message);
      return;
    }
    try {
      this.#onEvent(decoded.message);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** @param {any} msg */
  #onEvent(msg) {
    switch (msg.type) {
      case 'error':
        return this.#fail(new ParleyError(msg.code, msg.message));
      case 'participant_joined': {
        /** @type {ParticipantInfo} */
        const p = msg.participant;
        this.participants.set(p.sid, p);
        this.#events.emit('participantJoined', p);
        for (const t of p.tracks) this.#matchTrack(t.sid);
        return;
      }
      case 'participant_left': {
        const p = this.participants.get(msg.sid);
        if (!p) return;
        // The server unpublishes first, but a dropped message must not leave tracks behind.
        for (const t of [...p.tracks]) this.#unpublished(t.sid, p);
        this.participants.delete(msg.sid);
        this.#quality.delete(msg.sid);
        this.#events.emit('participantLeft', p);
        return;
      }
      case 'track_published': {
        /** @type {TrackInfo} */
        const t = msg.track;
        const p = this.participants.get(t.participant);
        if (p) {
          if (!p.tracks.some((x) => x.sid === t.sid)) p.tracks.push(t);
          this.#matchTrack(t.sid);
        } else if (this.you && t.participant === this.you.sid) {
          if (!this.you.tracks.some((x) => x.sid === t.sid)) this.you.tracks.push(t);
          // Muted before the server knew the track: tell it now.
          const local = this.#local(t.source);
          if (local) this.#announceMute(local);
        }
        return;
      }
      case 'track_unpublished': {
        const p = this.participants.get(msg.participant);
        if (p) this.#unpublished(msg.sid, p);
        else if (this.you) this.you.tracks = this.you.tracks.filter((t) => t.sid !== msg.sid);
        return;
      }
      case 'track_muted': {
        const local = this.you?.sid === msg.participant;
        const p = local ? this.you : this.participants.get(msg.participant);
        const track = p?.tracks.find((t) => t.sid === msg.track);
        if (!p || !track) return;
        track.muted = Boolean(msg.muted);
        this.#events.emit('trackMuted', { participant: p, track, muted: track.muted, local });
        return;
      }
      case 'subscribe_offer': {
        const sdp = msg.sdp;
        this.#subChain = this.#subChain.then(() => this.#answerSubscribe(sdp)).catch((err) => this.#fail(err));
        return;
      }
      case 'ice_candidate':
        if (msg.target === 'publisher') this.#publisher?.addRemoteCandidate(msg.candidate);
        else this.#addSubscriberCandidate(msg.candidate);
        return;
      case 'active_speakers':
        this.#events.emit('activeSpeakers', msg.speakers);
        return;
      case 'publisher_layers':
        this.#publisher?.applyLayers(msg.track_id, msg.active);
        return;
      case 'goodbye':
        // The close that follows carries the reason too; nothing to do until then.
        return;
      default:
        // Newer servers may add events; ignoring unknown ones keeps old clients working.
        return;
    }
  }

  /** @param {string} sdp */
  async #answerSubscribe(sdp) {
    const pc = (this.#sub ??= this.#createSubscriber());
    await pc.setRemoteDescription({ type: 'offer', sdp });
    for (const c of this.#subCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (this.#sub !== pc) return;
    await this.#request('subscribe_answer', { sdp: pc.localDescription?.sdp ?? answer.sdp });
  }

  #createSubscriber() {
    // The server's offer decides bundling; as answerer we just accept what it offers.
    const pc = new RTCPeerConnection();
    pc.onicecandidate = (ev) => {
      if (ev.candidate?.candidate) this.#sendCandidate('subscriber', ev.candidate);
    };
    pc.ontrack = (ev) => {
      const stream = ev.streams[0];
      if (!stream) return; // no msid: not a Parley track, nothing to map it to
      this.#unmatched.set(stream.id, { mediaTrack: ev.track, stream });
      this.#matchTrack(stream.id);
    };
    return pc;
  }

  /** @param {RTCIceCandidateInit} candidate */
  #addSubscriberCandidate(candidate) {
    const pc = this.#sub;
    if (!pc?.remoteDescription) {
      this.#subCandidates.push(candidate);
      return;
    }
    // Server candidates are also in its SDP, so a failed add loses nothing.
    pc.addIceCandidate(candidate).catch(() => {});
  }

  /** Announce a received track once both its media and its publisher are known. @param {string} sid */
  #matchTrack(sid) {
    const media = this.#unmatched.get(sid);
    if (!media) return;
    for (const participant of this.participants.values()) {
      const track = participant.tracks.find((t) => t.sid === sid);
      if (!track) continue;
      this.#unmatched.delete(sid);
      this.#subscribed.set(sid, media);
      this.#events.emit('trackSubscribed', { participant, track, ...media });
      return;
    }
  }

  /** @param {string} sid @param {ParticipantInfo} participant */
  #unpublished(sid, participant) {
    const track = participant.tracks.find((t) => t.sid === sid);
    participant.tracks = participant.tracks.filter((t) => t.sid !== sid);
    this.#unmatched.delete(sid);
    this.#adaptive.unobserve(sid);
    this.#paused.delete(sid);
    const media = this.#subscribed.get(sid);
    this.#subscribed.delete(sid);
    if (track && media) this.#events.emit('trackUnsubscribed', { participant, track, ...media });
  }

  #closePeers() {
    clearInterval(this.#qualityTimer);
    this.#qualityTimer = undefined;
    this.#publisher?.close();
    this.#sub?.close();
    this.#publisher = null;
    this.#sub = null;
    this.#subChain = Promise.resolve();
    this.#subCandidates = [];
    this.#lastStats = { pub: [], sub: [] };
    this.#adaptive.clear();
    this.#paused.clear();
    for (const [sid, media] of this.#subscribed) {
      for (const participant of this.participants.values()) {
        const track = participant.tracks.find((t) => t.sid === sid);
        if (track) this.#events.emit('trackUnsubscribed', { participant, track, ...media });
      }
    }
    this.#subscribed.clear();
    this.#unmatched.clear();
  }

  /** @param {WebSocket} ws */
  #startKeepalive(ws) {
    clearInterval(this.#keepaliveTimer);
    const interval = this.#options.keepaliveInterval;
    if (!interval) return;
    // A connection that died without a FIN (network gone) looks open until TCP gives up, which
    // takes minutes; an unanswered ping finds out in seconds.
    let waitingSince = 0;
    this.#keepaliveTimer = setInterval(() => {
      if (this.#ws !== ws) return;
      if (waitingSince && Date.now() - waitingSince >= interval) {
        this.#dropSocket(ws, 'keepalive timeout');
        return;
      }
      if (waitingSince) return;
      waitingSince = Date.now();
      this.#request('ping', {}).then(() => { waitingSince = 0; }, () => {});
    }, interval);
  }

  /** Give up on a socket now rather than waiting for its close handshake. @param {WebSocket} ws @param {string} reason */
  #dropSocket(ws, reason) {
    ws.onclose = ws.onmessage = ws.onerror = null;
    try { ws.close(4000, reason); } catch { /* already closing */ }
    this.#onClose(ws, 1006, reason);
  }

  /** @param {WebSocket} ws @param {number} code @param {string} reason */
  #onClose(ws, code, reason) {
    if (this.#ws !== ws) return;
    this.#ws = null;
    clearInterval(this.#keepaliveTimer);
    for (const { reject } of this.#pending.values()) {
      reject(new ParleyError('disconnected', `connection closed (${code}${reason ? ` ${reason}` : ''})`));
    }
    this.#pending.clear();
    if (this.#reconnect) return; // an attempt failed; the loop goes on
    if (!this.#closedByUs && this.room && this.#options.reconnect) {
      this.#reconnectLoop(reason || `closed with code ${code}`);
      return;
    }
    if (!this.#closedByUs) this.#closePeers();
    this.#events.emit('disconnected', { code, reason });
  }

  #stopReconnecting() {
    this.#reconnect?.abort();
    this.#reconnect = null;
  }

  /** @param {string} reason */
  async #reconnectLoop(reason) {
    const abort = new AbortController();
    this.#reconnect = abort;
    const room = /** @type {string} */ (this.room);
    const started = Date.now();
    // The server forgets a session whose socket closed: its tracks and subscriptions are gone,
    // so the room is rebuilt from scratch after the new join.
    if (this.you) this.#setQuality(this.you.sid, true, { packetLoss: null, rtt: null, jitter: null, framesPerSecond: null, stalled: true });
    this.#closePeers();
    for (const p of this.participants.values()) this.#events.emit('participantLeft', p);
    this.participants.clear();
    this.you = null;
    let failures = 0;
    let refresh = false;
    let last = reason;
    while (shouldRetry(failures, this.#options.backoff)) {
      const delay = backoffDelay(failures, this.#options.backoff);
      this.#events.emit('reconnecting', { attempt: failures + 1, delay, reason: last });
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay);
        abort.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(undefined); }, { once: true });
      });
      if (abort.signal.aborted) return;
      const refreshing = refresh;
      refresh = false;
      try {
        await this.#open(await this.#tokenValue(refreshing));
        await this.join(room);
        if (this.#locals.size) await this.#publishLocals(this.localTracks);
        if (abort.signal.aborted) return;
        this.#reconnect = null;
        this.#events.emit('reconnected', { attempts: failures + 1, downtime: Date.now() - started });
        return;
      } catch (err) {
        if (abort.signal.aborted) return;
        failures++;
        const code = /** @type {ParleyError} */ (err).code ?? '';
        last = err instanceof Error ? err.message : String(err);
        const ws = this.#ws;
        if (ws) this.#dropSocket(ws, 'reconnect attempt failed');
        this.#closePeers();
        if (FATAL_JOIN_ERRORS.includes(code) || code === 'token_unavailable') break;
        // The old token may not survive a server restart (random secret) or may have expired.
        if (TOKEN_ERRORS.includes(code)) {
          if (refreshing || typeof this.#token !== 'function') break;
          refresh = true;
        }
      }
    }
    if (abort.signal.aborted) return;
    this.#reconnect = null;
    this.room = null;
    this.#locals.clear();
    this.#events.emit('disconnected', { code: 1006, reason: `reconnecting failed: ${last}` });
  }

  #startQuality() {
    clearInterval(this.#qualityTimer);
    this.#lastStats = { pub: [], sub: [] };
    this.#qualityTimer = setInterval(() => {
      this.#sampleQuality().catch((err) => console.warn('parley: quality sample failed', err));
    }, this.#options.qualityInterval);
  }

  async #sampleQuality() {
    const you = this.you;
    if (!you) return;
    const pub = this.#publisher?.pc ?? null;
    const sub = this.#sub;
    /** @param {RTCPeerConnection | null} pc @returns {Promise<StatsLike[]>} */
    const stats = async (pc) => (pc && pc.connectionState !== 'closed' ? [...(await pc.getStats()).values()] : []);
    const [pubStats, subStats] = await Promise.all([stats(pub), stats(sub)]);
    if (this.you !== you) return; // left or reconnected meanwhile
    const prev = this.#lastStats;
    this.#lastStats = { pub: pubStats, sub: subStats };
    const wsDown = !this.connected;
    /** @param {RTCPeerConnection | null} pc */
    const down = (pc) => Boolean(pc && PEER_DOWN.includes(pc.connectionState));
    const ready = (/** @type {RTCPeerConnection | null} */ pc) => pc?.connectionState === 'connected';
    const subRtt = pairRtt(subStats);

    // This client: what it sends, as the server's receiver reports describe it.
    if (pub && (ready(pub) || down(pub))) {
      const cameraTracks = new Set(this.localTracks.filter((l) => l.source === 'camera' && !l.muted).map((l) => l.track.id));
      const up = outboundMetrics(prev.pub, pubStats, { cameraTracks });
      // Muted audio still sends silence; muted video sends nothing.
      const expected = this.localTracks.some((l) => l.track.kind === 'audio' || !l.muted);
      this.#setQuality(you.sid, true, combineMetrics([{
        packetLoss: up.packetLoss,
        rtt: pairRtt(pubStats) ?? up.rtt,
        jitter: up.jitter,
        framesPerSecond: up.framesPerSecond,
        stalled: wsDown || down(pub) || (expected && prev.pub.length > 0 && up.packets === 0),
      }]));
    } else if (!pub && (ready(sub) || wsDown)) {
      // Receive-only: the round trip is all there is to judge.
      this.#setQuality(you.sid, true, { packetLoss: null, rtt: subRtt, jitter: null, framesPerSecond: null, stalled: wsDown || down(sub) });
    }

    // Everyone else: what arrives of their tracks.
    if (!sub || !(ready(sub) || down(sub))) return;
    for (const p of this.participants.values()) {
      const received = p.tracks.filter((t) => this.#subscribed.has(t.sid));
      if (!received.length) continue;
      const id = (/** @type {TrackInfo} */ t) => /** @type {{mediaTrack: MediaStreamTrack}} */ (this.#subscribed.get(t.sid)).mediaTrack.id;
      const m = inboundMetrics(prev.sub, subStats, {
        tracks: new Set(received.map(id)),
        cameraTracks: new Set(received.filter((t) => t.source === 'camera' && !this.#paused.has(t.sid)).map(id)),
      });
      // Audio flows whenever it is not muted (silence included); video may be paused on purpose.
      const expected = received.some((t) => t.kind === 'audio' && !t.muted);
      this.#setQuality(p.sid, false, {
        packetLoss: m.packetLoss,
        rtt: subRtt,
        jitter: m.jitter,
        framesPerSecond: m.framesPerSecond,
        stalled: wsDown || down(sub) || (expected && prev.sub.length > 0 && m.packets === 0),
      });
    }
  }

  /** @param {string} sid @param {boolean} local @param {QualityMetrics} metrics */
  #setQuality(sid, local, metrics) {
    const level = qualityLevel(metrics);
    const before = this.#quality.get(sid);
    this.#quality.set(sid, { level, metrics });
    if (before?.level !== level) this.#events.emit('connectionQuality', { participant: sid, local, level, metrics });
  }
}
