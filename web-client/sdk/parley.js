// Parley browser SDK: signaling protocol v1 (docs/protocol.md) plus the two peer connections.
// Plain ES modules with JSDoc types, no build step: the server serves these files as they are.

import { AdaptiveSubscriptions } from './adaptive.js';
import { backoffDelay, shouldRetry } from './backoff.js';
import { Emitter } from './emitter.js';
import {
  FATAL_JOIN_ERRORS, PROTOCOL_VERSION, ParleyError, TOKEN_ERRORS, fetchGuestToken, subscriptionFields,
  websocketUrl,
} from './protocol.js';
import { Publisher } from './publisher.js';
import { Room } from './room.js';
import { Signaling } from './signaling.js';
import { QualityMonitor } from './quality.js';
import { Subscriber } from './subscriber.js';

export { PROTOCOL_VERSION, ParleyError } from './protocol.js';
export { SCREEN_ENCODING, SIMULCAST_ENCODINGS } from './publisher.js';
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

/** @typedef {import('./events.js').TrackEvent} TrackEvent */
/** @typedef {import('./events.js').TrackMutedEvent} TrackMutedEvent */
/** @typedef {import('./events.js').ConnectionQualityEvent} ConnectionQualityEvent */
/** @typedef {import('./events.js').ParleyEvents} ParleyEvents */
/** @typedef {import('./events.js').TokenSource} TokenSource */
/** @typedef {import('./events.js').ClientOptions} ClientOptions */

export class ParleyClient {
  /** @type {Emitter<ParleyEvents>} */
  #events = new Emitter();
  /** @type {Required<Omit<ClientOptions, 'backoff'>> & {backoff: BackoffOptions}} */
  #options;
  /** @type {Signaling | null} */ #signaling = null;
  /** @type {URL | null} */ #url = null;
  /** @type {TokenSource | null} */ #token = null;
  /** The token last used, reused by reconnects until the server refuses it. */
  /** @type {string | null} */ #tokenValueCache = null;
  /** @type {Publisher | null} */ #publisher = null;
  /** What this client publishes, by `LocalTrack.trackId`; kept across reconnects. */
  /** @type {Map<string, LocalTrack>} */ #locals = new Map();
  /** @type {Subscriber | null} */ #subscriber = null;
  #room = new Room({
    emit: (name, payload) => this.#events.emit(name, payload),
    // Muted before the server knew the track: tell it now.
    ownTrackPublished: (t) => {
      const local = this.#local(t.source);
      if (local) this.#announceMute(local);
    },
    trackGone: (sid) => {
      this.#adaptive.unobserve(sid);
      this.#paused.delete(sid);
    },
    participantGone: (sid) => this.#quality.forget(sid),
  });
  /** Track sids this client paused with `setSubscription`. */
  #paused = new Set();
  #adaptive = new AdaptiveSubscriptions((sid, want) => this.setSubscription(sid, want));
  #closedByUs = false;
  /** @type {AbortController | null} set while reconnecting */ #reconnect = null;
  #quality = new QualityMonitor(() => this.#qualitySnapshot(), (e) => this.#events.emit('connectionQuality', e));
  /** Mute state last sent with `set_track_muted`, by track sid. @type {Map<string, boolean>} */
  #announced = new Map();
  // Requests newer servers understand; cleared when this one answers `unknown_type`.
  #supports = { set_track_muted: true, unpublish: true };

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
      requestTimeout: options.requestTimeout ?? 20_000,
    };
  }

  /**
   * Fetch a guest token from the server's `/api/guest-token` (loopback or `--guest-tokens`).
   * @param {string | URL} baseUrl e.g. `location.origin`
   * @param {string} name
   * @param {string} room
   * @returns {Promise<{token: string, identity: string, room: string}>}
   */
  static guestToken(baseUrl, name, room) {
    return fetchGuestToken(baseUrl, name, room);
  }

  /** Other participants in the room, by sid. */
  get participants() { return this.#room.participants; }
  /** This session as the server knows it, after `join`. */
  get you() { return this.#room.you; }
  get publisherPc() { return this.#publisher?.pc ?? null; }
  get subscriberPc() { return this.#subscriber?.pc ?? null; }
  get connected() { return this.#signaling?.open ?? false; }
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
    /** @type {Signaling | null} */
    let self = null;
    const signaling = await Signaling.open(url, {
      onEvent: (msg) => {
        try {
          this.#onEvent(msg);
        } catch (err) {
          this.#fail(err);
        }
      },
      onClose: (code, reason) => this.#onClose(self, code, reason),
      onError: (err) => this.#fail(err),
    }, this.#options);
    self = signaling;
    this.#signaling = signaling;
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
    this.#announced.clear();
    this.#quality.start(this.#options.qualityInterval);
    this.#room.joined(reply.you, reply.participants);
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
      onFailed: () => this.#mediaFailed('publisher'),
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
    const you = this.you;
    const info = you?.tracks.find((t) => t.source === local.source);
    if (you && info) {
      // The server does not echo our own unpublish; a later share must not find this sid.
      you.tracks = you.tracks.filter((t) => t !== info);
      if (this.#supports.unpublish) await this.#optional('unpublish', { track: info.sid });
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
    if (!info || !this.#supports.set_track_muted) return;
    // Compared with what was last sent, not last acknowledged: a quick mute-unmute must send
    // both, and the server applies one socket's requests in order.
    const muted = local.muted;
    if ((this.#announced.get(info.sid) ?? Boolean(info.muted)) === muted) return;
    this.#announced.set(info.sid, muted);
    if (await this.#optional('set_track_muted', { track: info.sid, muted })) info.muted = muted;
    else if (this.#announced.get(info.sid) === muted) this.#announced.delete(info.sid);
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
    return this.#quality.get(participantSid);
  }

  /** Leave the room; the socket stays open. */
  async leave() {
    this.#stopReconnecting();
    // Tell the server first so the others see us go now, not after our ICE times out.
    const reply = this.connected ? this.#request('leave', {}) : Promise.resolve();
    this.#closePeers();
    this.#locals.clear();
    this.#room.clear(false);
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
    this.#room.clear(false);
    this.room = null;
    const signaling = this.#signaling;
    if (signaling?.open) signaling.close(1000, 'client disconnect');
    else if (reconnecting) this.#events.emit('disconnected', { code: 1000, reason: 'client disconnect' });
  }

  /** @param {string} type @param {object} fields @returns {Promise<any>} */
  #request(type, fields) {
    const signaling = this.#signaling;
    if (!signaling) return Promise.reject(new ParleyError('not_connected', `${type}: not connected`));
    return signaling.request(type, fields);
  }

  /** @param {PeerTarget} target @param {RTCIceCandidate} c */
  #sendCandidate(target, c) {
    const { candidate, sdpMid, sdpMLineIndex, usernameFragment } = c.toJSON();
    // Optional for the server (it learns peer-reflexive addresses), so failures are noise.
    this.#request('ice_candidate', { target, candidate: { candidate, sdpMid, sdpMLineIndex, usernameFragment } })
      .catch(() => {});
  }

  /** @param {any} msg */
  #onEvent(msg) {
    if (this.#room.handle(msg)) return;
    switch (msg.type) {
      case 'error':
        return this.#fail(new ParleyError(msg.code, msg.message));
      case 'subscribe_offer':
        this.#subscriberLeg().offer(msg.sdp);
        return;
      case 'ice_candidate':
        if (msg.target === 'publisher') this.#publisher?.addRemoteCandidate(msg.candidate);
        else this.#subscriberLeg().addRemoteCandidate(msg.candidate);
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

  #subscriberLeg() {
    return (this.#subscriber ??= new Subscriber({
      request: (type, fields) => this.#request(type, fields),
      sendCandidate: (c) => this.#sendCandidate('subscriber', c),
      onTrack: (sid, media) => this.#room.mediaArrived(sid, media),
      onError: (err) => this.#fail(err),
      onFailed: () => this.#mediaFailed('subscriber'),
    }));
  }

  /**
   * A peer connection failed while signaling still works (say, UDP is blocked now). The server
   * offers the subscriber leg and has no ICE restart request, so the whole session is rebuilt
   * the way a dropped socket is: reconnect, join, republish, resubscribe.
   * @param {PeerTarget} leg
   */
  #mediaFailed(leg) {
    if (this.#reconnect || this.#closedByUs) return;
    this.#signaling?.drop(`${leg} connection failed`);
  }

  #closePeers() {
    this.#quality.stop();
    this.#publisher?.close();
    this.#subscriber?.close();
    this.#publisher = null;
    this.#subscriber = null;
    this.#room.mediaClosed();
    this.#adaptive.clear();
    this.#paused.clear();
  }

  /** @param {Signaling | null} signaling @param {number} code @param {string} reason */
  #onClose(signaling, code, reason) {
    if (!signaling || this.#signaling !== signaling) return;
    this.#signaling = null;
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
    if (this.you) this.#quality.set(this.you.sid, true, { packetLoss: null, rtt: null, jitter: null, framesPerSecond: null, stalled: true });
    this.#closePeers();
    this.#room.clear(true);
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
        this.#signaling?.drop('reconnect attempt failed');
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

  /** What a connection-quality sample needs; null while there is nothing to judge. */
  async #qualitySnapshot() {
    const you = this.you;
    if (!you) return null;
    const pub = this.#publisher?.pc ?? null;
    const sub = this.#subscriber?.pc ?? null;
    /** @param {RTCPeerConnection | null} pc @returns {Promise<StatsLike[]>} */
    const stats = async (pc) => (pc && pc.connectionState !== 'closed' ? [...(await pc.getStats()).values()] : []);
    const [pubStats, subStats] = await Promise.all([stats(pub), stats(sub)]);
    if (this.you !== you) return null; // left or reconnected meanwhile
    return {
      cur: { pub: pubStats, sub: subStats },
      selfSid: you.sid,
      signalingUp: this.connected,
      publisherState: pub?.connectionState ?? null,
      subscriberState: sub?.connectionState ?? null,
      sent: this.localTracks.map((l) => ({ kind: l.track.kind, camera: l.source === 'camera', muted: l.muted, trackId: l.track.id })),
      received: [...this.participants.values()].map((p) => ({
        sid: p.sid,
        tracks: p.tracks.flatMap((t) => {
          const media = this.#room.media(t.sid);
          if (!media) return [];
          const camera = t.source === 'camera';
          return [{ kind: t.kind, camera, muted: Boolean(t.muted), paused: this.#paused.has(t.sid), trackId: media.mediaTrack.id }];
        }),
      })),
    };
  }
}
