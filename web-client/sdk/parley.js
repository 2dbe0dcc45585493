// Parley browser SDK: signaling protocol v1 (docs/protocol.md): calls on up to three peer
// connections, and chat on the same WebSocket.
// Plain ES modules with JSDoc types, no build step: the server serves these files as they are.

import { AdaptiveSubscriptions } from './adaptive.js';
import { retry } from './backoff.js';
import { Emitter } from './emitter.js';
import {
  FATAL_JOIN_ERRORS, PROTOCOL_VERSION, ParleyError, TOKEN_ERRORS, bearerFetch, fetchGuestToken,
  subscriptionFields, websocketUrl,
} from './protocol.js';
import { Calls } from './calls.js';
import { Chat } from './chat.js';
import { LocalMedia, isScreen } from './local.js';
import { Room } from './room.js';
import { Signaling } from './signaling.js';
import { QualityMonitor, sampleInput } from './quality.js';
import { Subscriber } from './subscriber.js';
import { IceRecovery, PROBE_TIMEOUT_MS, watchNetwork } from './ice.js';

export { PROTOCOL_VERSION, ParleyError } from './protocol.js';
export { SCREEN_ENCODING, SIMULCAST_ENCODINGS } from './publisher.js';
export { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
export { qualityLevel, QUALITY_LIMITS } from './quality.js';
export { Emitter } from './emitter.js';
export { Chat, TYPING_IDLE_MS, TYPING_REFRESH_MS } from './chat.js';
export { Calls } from './calls.js';

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
/** @typedef {import('./chat.js').ChatMessage} ChatMessage */
/** @typedef {import('./chat.js').ConversationInfo} ConversationInfo */
/** @typedef {import('./chat.js').AttachmentInfo} AttachmentInfo */
/** @typedef {import('./chat.js').PresenceInfo} PresenceInfo */
/** @typedef {import('./calls.js').InvitationInfo} InvitationInfo */
/** @typedef {import('./calls.js').CallTicket} CallTicket */

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
  /** What this client publishes, kept across reconnects, and the connections it goes on. */
  #local = new LocalMedia({
    request: (type, fields) => this.#request(type, fields),
    sendCandidate: (target, c) => this.#sendCandidate(target, c),
    mediaFailed: (target, trouble) => this.#ice.trouble(target, trouble),
    iceServers: () => this.#iceServers,
    you: () => this.you,
    fail: (err) => this.#fail(err),
  });
  /** @type {Subscriber | null} */ #subscriber = null;
  #room = new Room({
    emit: (name, payload) => this.#events.emit(name, payload),
    ownTrackPublished: (t) => this.#local.ownTrackPublished(t),
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
  /** From `joined`: continues this session on a new socket (`hello.resume`). @type {string | null} */
  #resumeToken = null;
  /** Stops probing the socket on network changes (set while in a room). @type {(() => void) | null} */
  #unwatchNetwork = null;
  /** ICE trouble on a connection: probe the socket, restart ICE, rebuild as the last resort. */
  #ice = new IceRecovery({
    busy: () => Boolean(this.#reconnect) || this.#closedByUs,
    probe: () => this.#signaling?.probe(PROBE_TIMEOUT_MS),
    pc: (leg) => (leg === 'subscriber' ? this.#subscriber?.pc : leg === 'screen' ? this.#local.screenPc : this.#local.publisherPc),
    restart: (leg) => (leg === 'subscriber' ? this.#subscriber?.restartIce() : this.#local.restartIce(leg)),
    rebuild: (leg) => {
      this.#resumeToken = null; // the connections themselves are the trouble: start afresh
      this.#signaling?.drop(`${leg} connection failed`);
    },
  });
  #quality = new QualityMonitor(() => this.#qualitySnapshot(), (e) => this.#events.emit('connectionQuality', e));
  /** A room token for `join` other than the hello token (a call invitation's), reused on rejoin. */
  /** @type {string | undefined} */ #roomToken;
  /**
   * TURN servers from the last `joined` (fresh credentials on every join, reconnects included):
   * every new peer connection gets them, and ICE prefers direct paths by itself.
   * @type {import('./protocol.js').IceServer[]}
   */
  #iceServers = [];
  /**
   * Chat on this connection (tokens with the `chat` grant): conversations, messages, receipts,
   * typing, presence, attachments. Its events come through `on` (`message`, `typing`, ...).
   * @type {import('./chat.js').Chat}
   */
  chat = new Chat({
    request: (type, fields) => this.#request(type, fields),
    emit: (name, payload) => this.#events.emit(name, /** @type {any} */ (payload)),
    fetch: (path, init) => this.#fetch(path, init),
    fail: (err) => this.#fail(err),
  });

  /**
   * Call invitations: `invite(conversation, media)`, `accept`, `decline`, `cancel`; events
   * `callRinging`, `callUpdate`, `callAnsweredElsewhere`. Join with `join(ticket.room, ticket)`.
   * @type {import('./calls.js').Calls}
   */
  calls = new Calls({
    request: (type, fields) => this.#request(type, fields),
    emit: (name, payload) => this.#events.emit(name, /** @type {any} */ (payload)),
  });

  /** From `welcome`. @type {string | null} */ identity = null;
  /** @type {string | null} */ name = null;
  /** @type {string | null} */ room = null;
  /** The room's chat conversation, from `join` (tokens with the `chat` grant). @type {string | null} */
  conversation = null;

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
  /** With the `moderate` grant: the room's hidden WHEP viewers, by sid (removable by sid). */
  get viewers() { return this.#room.viewers; }
  /** This session as the server knows it, after `join`. */
  get you() { return this.#room.you; }
  get publisherPc() { return this.#local.publisherPc; }
  /** The screen share's connection, once the screen was shared. */
  get screenPc() { return this.#local.screenPc; }
  get subscriberPc() { return this.#subscriber?.pc ?? null; }
  get connected() { return this.#signaling?.open ?? false; }
  /** Whether the connection dropped and the client is trying to get back. */
  get reconnecting() { return this.#reconnect !== null; }
  /** What this client publishes. @returns {LocalTrack[]} */
  get localTracks() { return this.#local.tracks; }

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

  /** @param {string} token @param {string | null} [resume] a session's resume token */
  async #open(token, resume = null) {
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
    const welcome = await this.#request('hello', { version: PROTOCOL_VERSION, token, resume: resume ?? undefined });
    this.identity = welcome.identity;
    this.name = welcome.name;
    // Chat failing to set up (or catch up) must not cost the call; the next gap syncs again.
    await this.chat.connected(welcome.identity).catch((err) => this.#fail(err));
    return welcome;
  }

  /**
   * Join a room: the one the token names, or the one of `options.token` (a room token the server
   * minted for you, e.g. from an accepted call). Emits `participantJoined` for everyone already
   * there.
   * @param {string} room
   * @param {{token?: string}} [options]
   * @returns {Promise<{you: ParticipantInfo, participants: ParticipantInfo[], conversation: string | null}>}
   */
  async join(room, options = {}) {
    const reply = await this.#request('join', { room, token: options.token });
    this.room = reply.room;
    this.#roomToken = options.token;
    this.#resumeToken = reply.resume_token ?? null;
    this.#iceServers = reply.ice_servers ?? [];
    this.conversation = reply.conversation ?? null;
    this.#local.joined();
    this.#quality.start(this.#options.qualityInterval);
    this.#unwatchNetwork ??= watchNetwork(() => this.#signaling?.probe(PROBE_TIMEOUT_MS));
    this.#room.joined(reply.you, reply.participants, reply.viewers ?? []);
    if (this.conversation && this.chat.enabled) await this.chat.track(this.conversation).catch((err) => this.#fail(err));
    return { you: reply.you, participants: reply.participants, conversation: this.conversation };
  }

  /**
   * Publish the stream's tracks on the publisher connection (again callable later to add more).
   * The camera is sent as three simulcast layers (see `SIMULCAST_ENCODINGS`) unless
   * `options.simulcast` is `false`.
   * @param {MediaStream} stream
   * @param {{sources?: Record<string, TrackSource>, simulcast?: boolean}} [options] `sources`:
   *   source per `MediaStreamTrack.id`; defaults to camera for video, microphone for audio
   */
  publish(stream, options = {}) {
    return this.#local.publish(stream, options);
  }

  /**
   * Share the screen: `getDisplayMedia`, published as one layer (no simulcast) with source
   * `screen`, on a connection of its own so the camera's is never renegotiated. Stopping it, from
   * `unpublishTrack` or the browser's own "stop sharing", unpublishes it.
   * @param {DisplayMediaStreamOptions} [constraints]
   * @param {{stream?: MediaStream}} [options] `stream`: share this instead of asking
   *   `getDisplayMedia` (a capture the app made itself, a canvas `captureStream()`); the SDK owns
   *   it from then on and stops its tracks when the share ends
   * @returns {Promise<MediaStream>}
   */
  publishScreen(constraints, options) {
    return this.#local.publishScreen(constraints, options);
  }

  /**
   * Stop publishing a track: the server is told (`unpublish`), so the others drop it at once.
   * The track itself is stopped too.
   * @param {MediaStreamTrack | TrackSource} trackOrSource
   */
  unpublishTrack(trackOrSource) {
    return this.#local.unpublish(trackOrSource);
  }

  /**
   * Mute or unmute one of this client's tracks by source (`microphone`, `camera`, ...). Works
   * locally in any case (see `Publisher.setMuted`); servers that support it also tell the others
   * (`trackMuted` on their side).
   * @param {TrackSource} source
   * @param {boolean} muted
   */
  setMuted(source, muted) {
    return this.#local.setMuted(source, muted);
  }

  /**
   * Moderate another participant of this room (`moderate_participant`; needs the `moderate`
   * grant): `mute_audio`, `mute_video` or `mute_all` stop forwarding their tracks (everyone gets
   * `trackMuted`), `unmute` lifts that, `remove` puts them out of the room. Rejects with a
   * `ParleyError` (e.g. code `forbidden`, `unknown_participant`).
   * @param {string} participantSid
   * @param {'mute_audio' | 'mute_video' | 'mute_all' | 'unmute' | 'remove'} action
   * @returns {Promise<{type: 'ok', reply_to: string}>}
   */
  moderateParticipant(participantSid, action) {
    return this.#request('moderate_participant', { participant: participantSid, action });
  }

  /** @param {TrackSource} source */
  isMuted(source) {
    return this.#local.isMuted(source);
  }

  /**
   * Send another capture (e.g. a different camera or microphone) in place of a published track,
   * without renegotiating. The old track is not stopped.
   * @param {TrackSource} source
   * @param {MediaStreamTrack} track
   */
  replaceTrack(source, track) {
    return this.#local.replace(source, track);
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
    this.#resumeToken = null;
    this.#closePeers();
    this.#local.clear();
    this.#room.clear(false);
    this.room = null;
    this.conversation = null;
    await reply;
  }

  /** Close both peer connections and the socket. */
  disconnect() {
    this.#closedByUs = true;
    const reconnecting = this.#reconnect !== null;
    this.#stopReconnecting();
    this.#resumeToken = null;
    this.#closePeers();
    this.#local.clear();
    this.#room.clear(false);
    this.room = null;
    this.conversation = null;
    this.chat.reset();
    const signaling = this.#signaling;
    if (signaling?.open) signaling.close(1000, 'client disconnect');
    else if (reconnecting) this.#events.emit('disconnected', { code: 1000, reason: 'client disconnect' });
  }

  /**
   * A REST call to this server with the connection's bearer token (chat uploads and downloads).
   * @param {string} path e.g. `/api/attachments/…`
   * @param {RequestInit} [init]
   */
  async #fetch(path, init = {}) {
    if (!this.#url) throw new ParleyError('not_connected', 'connect() was not called');
    return bearerFetch(this.#url, await this.#tokenValue(false), path, init);
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
    if (this.#room.handle(msg) || this.chat.handle(msg) || this.calls.handle(msg, this.identity)) return;
    switch (msg.type) {
      case 'error':
        return this.#fail(new ParleyError(msg.code, msg.message));
      case 'subscribe_offer':
        this.#subscriberLeg().offer(msg.sdp);
        return;
      case 'ice_candidate':
        if (msg.target === 'subscriber') this.#subscriberLeg().addRemoteCandidate(msg.candidate);
        else this.#local.addRemoteCandidate(msg.target, msg.candidate);
        return;
      case 'active_speakers':
        this.#events.emit('activeSpeakers', msg.speakers);
        return;
      case 'publisher_layers':
        // `track_id` is the msid track id of our offer, not necessarily a MediaStreamTrack.id.
        this.#local.applyLayers(msg.track_id, msg.active).catch((err) => this.#fail(err));
        return;
      case 'goodbye':
        // The server ended the session (shutdown, removed): nothing left to resume. The close
        // that follows carries the reason too.
        this.#resumeToken = null;
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
      onFailed: (trouble) => this.#ice.trouble('subscriber', trouble),
      iceServers: () => this.#iceServers,
    }));
  }

  /**
   * `welcome.resumed`: the room is brought up to date (events sent to the lost socket may not
   * have arrived) and every connection restarts ICE (the network under them changed).
   * @param {{room: string, you: ParticipantInfo, participants: ParticipantInfo[], resume_token: string, ice_servers?: import('./protocol.js').IceServer[]}} resumed
   */
  #resumed(resumed) {
    this.#resumeToken = resumed.resume_token;
    this.#room.resync(resumed.you, resumed.participants);
    // Fresh TURN credentials for the restarts (the old ones may have expired).
    this.#iceServers = resumed.ice_servers ?? [];
    for (const pc of [this.#local.publisherPc, this.#local.screenPc, this.#subscriber?.pc]) {
      pc?.setConfiguration({ ...pc.getConfiguration(), iceServers: this.#iceServers });
    }
    this.#local.restartIce().catch((err) => this.#fail(err));
    if (this.#subscriber?.pc) this.#subscriber.restartIce().catch((err) => this.#fail(err));
  }

  /** The session is not coming back: its connections close and its room empties. */
  #dropRoom() {
    this.#resumeToken = null;
    this.#closePeers();
    this.#room.clear(true);
  }

  #closePeers() {
    this.#quality.stop();
    this.#unwatchNetwork?.();
    this.#unwatchNetwork = null;
    this.#local.closePeers();
    this.#subscriber?.close();
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
    this.chat.disconnected();
    // In a room, or a chat device: either is worth coming back for.
    if (!this.#closedByUs && (this.room || this.chat.enabled) && this.#options.reconnect) {
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
    const room = this.room;
    const started = Date.now();
    if (this.you) this.#quality.set(this.you.sid, true, { packetLoss: null, rtt: null, jitter: null, framesPerSecond: null, stalled: true });
    // The server keeps a session whose socket was lost for a while: with a resume token, its
    // connections stay and the next socket continues it. Otherwise (or once the server says it
    // is gone) the room is rebuilt from scratch after a new join.
    if (!this.#resumeToken) this.#dropRoom();
    let resumed = false;
    const outcome = await retry({
      backoff: this.#options.backoff, signal: abort.signal, canRefresh: typeof this.#token === 'function',
      fatal: [...FATAL_JOIN_ERRORS, 'token_unavailable'], tokenErrors: TOKEN_ERRORS,
      waiting: (e) => this.#events.emit('reconnecting', e),
      failed: () => {
        this.#signaling?.drop('reconnect attempt failed');
        if (!this.#resumeToken) this.#closePeers();
      },
      attempt: async (refresh) => {
        const welcome = await this.#open(await this.#tokenValue(refresh), this.#resumeToken);
        resumed = Boolean(welcome.resumed);
        if (welcome.resumed) return this.#resumed(welcome.resumed);
        if (this.#resumeToken) this.#dropRoom();
        if (!room) return;
        await this.join(room, { token: this.#roomToken });
        await this.#local.republish();
      },
    }, reason);
    if (!outcome) return; // aborted
    this.#reconnect = null;
    if ('attempts' in outcome) {
      this.#events.emit('reconnected', { attempts: outcome.attempts, downtime: Date.now() - started, resumed });
      return;
    }
    if (this.#resumeToken) this.#dropRoom();
    this.room = null;
    this.conversation = null;
    this.#local.clear();
    this.#events.emit('disconnected', { code: 1006, reason: `reconnecting failed: ${outcome.reason}` });
  }

  /** What a connection-quality sample needs; null while there is nothing to judge. */
  async #qualitySnapshot() {
    const you = this.you;
    if (!you) return null;
    return sampleInput({
      you, signalingUp: () => this.connected, stillYou: () => this.you === you,
      pub: this.#local.publisherPc, sub: this.#subscriber?.pc ?? null,
      // What the publisher connection sends: a screen has its own connection.
      sent: this.localTracks.filter((l) => !isScreen(l.source)),
      participants: [...this.participants.values()],
      media: (sid) => this.#room.media(sid), paused: (sid) => this.#paused.has(sid),
    });
  }
}
