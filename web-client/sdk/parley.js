// Parley browser SDK: signaling protocol v1 (docs/protocol.md) plus the two peer connections.
// Plain ES module, no build step.

/** @typedef {'audio' | 'video'} TrackKind */
/** @typedef {'camera' | 'microphone' | 'screen' | 'screen_audio' | 'unknown'} TrackSource */
/** @typedef {'publisher' | 'subscriber'} PeerTarget */

/**
 * @typedef {object} TrackInfo
 * @property {string} sid server track id; also the msid stream id in subscriber offers
 * @property {string} participant sid of the publishing participant
 * @property {TrackKind} kind
 * @property {TrackSource} source
 * @property {string} mime_type
 */

/**
 * @typedef {object} ParticipantInfo
 * @property {string} sid unique per join
 * @property {string} identity
 * @property {string} name
 * @property {TrackInfo[]} tracks
 */

/**
 * @typedef {object} TrackEvent
 * @property {ParticipantInfo} participant
 * @property {TrackInfo} track
 * @property {MediaStreamTrack} mediaTrack
 * @property {MediaStream} stream
 */

/**
 * @typedef {object} ParleyEvents
 * @property {ParticipantInfo} participantJoined
 * @property {ParticipantInfo} participantLeft
 * @property {TrackEvent} trackSubscribed
 * @property {TrackEvent} trackUnsubscribed
 * @property {{sid: string, level: number}[]} activeSpeakers loudest first; `[]` when nobody speaks
 * @property {{code: number, reason: string}} disconnected
 * @property {Error & {code?: string}} error
 */

export const PROTOCOL_VERSION = 1;

/**
 * The camera's simulcast layers, lowest first: quarter, half and full resolution.
 * @type {readonly RTCRtpEncodingParameters[]}
 */
export const SIMULCAST_ENCODINGS = Object.freeze([
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', maxBitrate: 1_500_000 },
]);

/** An `error` reply from the server, or a local failure with a code of our own. */
export class ParleyError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'ParleyError';
    this.code = code;
  }
}

export class ParleyClient {
  /** @type {WebSocket | null} */ #ws = null;
  #nextId = 1;
  /** @type {Map<string, {resolve: (m: any) => void, reject: (e: Error) => void}>} */
  #pending = new Map();
  /** @type {{[K in keyof ParleyEvents]?: Set<(e: ParleyEvents[K]) => void>}} */
  #listeners = {};
  /** @type {RTCPeerConnection | null} */ #pub = null;
  /** @type {RTCPeerConnection | null} */ #sub = null;
  // Server offers can arrive while one is being applied; each waits for the previous one.
  /** @type {Promise<void>} */ #subChain = Promise.resolve();
  /** Server candidates that arrived before their pc had a remote description. */
  #remoteCandidates = { publisher: /** @type {RTCIceCandidateInit[]} */ ([]), subscriber: /** @type {RTCIceCandidateInit[]} */ ([]) };
  /** Tracks that reached `ontrack` before we knew whose they are, by track sid. */
  /** @type {Map<string, {mediaTrack: MediaStreamTrack, stream: MediaStream}>} */
  #unmatched = new Map();
  /** Tracks announced through `trackSubscribed`, by track sid. */
  /** @type {Map<string, {mediaTrack: MediaStreamTrack, stream: MediaStream}>} */
  #subscribed = new Map();
  #closedByUs = false;

  /** Other participants in the room, by sid. @type {Map<string, ParticipantInfo>} */
  participants = new Map();
  /** This session as the server knows it, after `join`. @type {ParticipantInfo | null} */
  you = null;
  /** From `welcome`. @type {string | null} */ identity = null;
  /** @type {string | null} */ name = null;
  /** @type {string | null} */ room = null;

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

  get publisherPc() { return this.#pub; }
  get subscriberPc() { return this.#sub; }
  get connected() { return this.#ws?.readyState === WebSocket.OPEN; }

  /**
   * @template {keyof ParleyEvents} K
   * @param {K} name
   * @param {(e: ParleyEvents[K]) => void} fn
   * @returns {() => void} removes the listener
   */
  on(name, fn) {
    (this.#listeners[name] ??= new Set()).add(/** @type {any} */ (fn));
    return () => this.off(name, fn);
  }

  /**
   * @template {keyof ParleyEvents} K
   * @param {K} name
   * @param {(e: ParleyEvents[K]) => void} fn
   */
  off(name, fn) {
    this.#listeners[name]?.delete(/** @type {any} */ (fn));
  }

  /**
   * @template {keyof ParleyEvents} K
   * @param {K} name
   * @param {ParleyEvents[K]} payload
   */
  /**
   * Dynacast: the server says which simulcast encodings of one of our tracks anyone receives;
   * the others stop encoding, which saves this device's CPU and uplink.
   * @param {string} trackId @param {string[]} activeRids
   */
  async #applyPublisherLayers(trackId, activeRids) {
    const sender = this.#pub?.getSenders().find((s) => s.track?.id === trackId);
    if (!sender) return;
    const params = sender.getParameters();
    if (!params.encodings?.length) return;
    let changed = false;
    for (const encoding of params.encodings) {
      const active = !encoding.rid || activeRids.includes(encoding.rid);
      if (encoding.active !== active) {
        encoding.active = active;
        changed = true;
      }
    }
    if (!changed) return;
    try {
      await sender.setParameters(params);
    } catch (err) {
      // A renegotiation in flight can refuse parameters; the next update applies them.
      console.warn('parley: could not apply publisher layers', err);
    }
  }

  #emit(name, payload) {
    for (const fn of [...(this.#listeners[name] ?? [])]) {
      // A throwing listener must not break protocol handling for the others.
      try { fn(payload); } catch (err) { console.error(`parley: ${name} listener failed`, err); }
    }
  }

  /** @param {unknown} err */
  #fail(err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (this.#listeners.error?.size) this.#emit('error', e);
    else console.error('parley:', e);
  }

  /**
   * Open the WebSocket and authenticate.
   * @param {string | URL} url server origin (`https://host`) or full WebSocket URL (`wss://host/ws`)
   * @param {string} token JWT
   * @returns {Promise<{version: number, server: string, identity: string, name: string}>}
   */
  async connect(url, token) {
    const wsUrl = new URL(url, globalThis.location?.href);
    if (wsUrl.protocol === 'http:' || wsUrl.protocol === 'https:') {
      wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
      wsUrl.pathname = '/ws';
    }
    this.#closedByUs = false;
    const ws = new WebSocket(wsUrl);
    this.#ws = ws;
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new ParleyError('connect_failed', `cannot connect to ${wsUrl}`));
    });
    ws.onerror = null;
    ws.onmessage = (ev) => this.#onMessage(ev.data);
    ws.onclose = (ev) => this.#onClose(ev.code, ev.reason);
    const welcome = await this.#request('hello', { version: PROTOCOL_VERSION, token });
    this.identity = welcome.identity;
    this.name = welcome.name;
    return welcome;
  }

  /**
   * Join the room the token names.
   * @param {string} room
   * @returns {Promise<{you: ParticipantInfo, participants: ParticipantInfo[]}>}
   */
  async join(room) {
    const reply = await this.#request('join', { room });
    this.room = reply.room;
    this.you = reply.you;
    this.participants.clear();
    for (const p of reply.participants) this.participants.set(p.sid, p);
    return { you: reply.you, participants: reply.participants };
  }

  /**
   * Publish the stream's tracks on the publisher connection. The camera is sent as three
   * simulcast layers (see `SIMULCAST_ENCODINGS`) unless `options.simulcast` is `false`.
   * @param {MediaStream} stream
   * @param {{sources?: Record<string, TrackSource>, simulcast?: boolean}} [options] `sources`:
   *   source per `MediaStreamTrack.id`; defaults to camera for video, microphone for audio
   */
  async publish(stream, options = {}) {
    if (this.#pub) throw new ParleyError('already_publishing', 'publish() was already called');
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.#pub = pc;
    // The server has no publisher session until it has handled `publish`; candidates sent
    // earlier would get `unknown_session`, so hold them until the answer is in.
    /** @type {RTCIceCandidate[] | null} */
    let held = [];
    pc.onicecandidate = (ev) => {
      if (!ev.candidate?.candidate) return;
      if (held) held.push(ev.candidate);
      else this.#sendCandidate('publisher', ev.candidate);
    };
    const tracks = [];
    for (const track of stream.getTracks()) {
      const source = options.sources?.[track.id] ?? (track.kind === 'video' ? 'camera' : 'microphone');
      /** @type {RTCTransceiverInit} */
      const init = { direction: 'sendonly', streams: [stream] };
      if (source === 'camera' && options.simulcast !== false) {
        init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
      }
      pc.addTransceiver(track, init);
      tracks.push({ track_id: track.id, source });
    }
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const reply = await this.#request('publish', { sdp: pc.localDescription?.sdp ?? offer.sdp, tracks });
      if (this.#pub !== pc) return; // left or disconnected meanwhile
      await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
    } catch (err) {
      // Let the caller retry with a fresh connection.
      if (this.#pub === pc) this.#pub = null;
      pc.close();
      throw err;
    }
    await this.#flushRemoteCandidates('publisher');
    for (const c of held) this.#sendCandidate('publisher', c);
    held = null;
  }

  /**
   * Choose what this client receives of one track (`update_subscription`): `{paused: true}` stops
   * it, `{maxLayer}` caps the simulcast layer (0 = smallest), `{width, height}` (rendered size in
   * device pixels) picks the smallest layer that covers it, `{}` asks for the best layer.
   * Rejects with a `ParleyError` (e.g. code `unknown_track`).
   * @param {string} trackSid
   * @param {{paused?: boolean, maxLayer?: number, width?: number, height?: number}} [want]
   * @returns {Promise<{type: 'ok', reply_to: string}>}
   */
  setSubscription(trackSid, want = {}) {
    const { paused, maxLayer, width, height } = want;
    // JSON drops the undefined fields, so only what was asked for is sent.
    return this.#request('update_subscription', { track: trackSid, paused, max_layer: maxLayer, width, height });
  }

  /** Leave the room; the socket stays open. */
  async leave() {
    // Tell the server first so the others see us go now, not after our ICE times out.
    const reply = this.#request('leave', {});
    this.#closePeers();
    this.participants.clear();
    this.you = null;
    await reply;
  }

  /** Close both peer connections and the socket. */
  disconnect() {
    this.#closedByUs = true;
    this.#closePeers();
    this.participants.clear();
    const ws = this.#ws;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'client disconnect');
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
      ws.send(JSON.stringify({ type, id, ...fields }));
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
    /** @type {any} */
    let msg;
    try {
      msg = JSON.parse(String(data));
    } catch {
      return this.#fail(new ParleyError('bad_json', 'server sent invalid JSON'));
    }
    if (typeof msg.reply_to === 'string') {
      const waiter = this.#pending.get(msg.reply_to);
      if (!waiter) return;
      this.#pending.delete(msg.reply_to);
      if (msg.type === 'error') waiter.reject(new ParleyError(msg.code, msg.message));
      else waiter.resolve(msg);
      return;
    }
    try {
      this.#onEvent(msg);
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
        this.#emit('participantJoined', p);
        for (const t of p.tracks) this.#matchTrack(t.sid);
        return;
      }
      case 'participant_left': {
        const p = this.participants.get(msg.sid);
        if (!p) return;
        // The server unpublishes first, but a dropped message must not leave tracks behind.
        for (const t of [...p.tracks]) this.#unpublished(t.sid, p);
        this.participants.delete(msg.sid);
        this.#emit('participantLeft', p);
        return;
      }
      case 'track_published': {
        /** @type {TrackInfo} */
        const t = msg.track;
        const p = this.participants.get(t.participant);
        if (!p) {
          if (this.you && t.participant === this.you.sid && !this.you.tracks.some((x) => x.sid === t.sid)) {
            this.you.tracks.push(t);
          }
          return;
        }
        if (!p.tracks.some((x) => x.sid === t.sid)) p.tracks.push(t);
        this.#matchTrack(t.sid);
        return;
      }
      case 'track_unpublished': {
        const p = this.participants.get(msg.participant);
        if (p) this.#unpublished(msg.sid, p);
        else if (this.you) this.you.tracks = this.you.tracks.filter((t) => t.sid !== msg.sid);
        return;
      }
      case 'subscribe_offer': {
        const sdp = msg.sdp;
        this.#subChain = this.#subChain.then(() => this.#answerSubscribe(sdp)).catch((err) => this.#fail(err));
        return;
      }
      case 'ice_candidate':
        this.#addRemoteCandidate(msg.target, msg.candidate);
        return;
      case 'active_speakers':
        this.#emit('activeSpeakers', msg.speakers);
        return;
      case 'publisher_layers':
        this.#applyPublisherLayers(msg.track_id, msg.active);
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
    await this.#flushRemoteCandidates('subscriber');
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

  /** Announce a received track once both its media and its publisher are known. @param {string} sid */
  #matchTrack(sid) {
    const media = this.#unmatched.get(sid);
    if (!media) return;
    for (const participant of this.participants.values()) {
      const track = participant.tracks.find((t) => t.sid === sid);
      if (!track) continue;
      this.#unmatched.delete(sid);
      this.#subscribed.set(sid, media);
      this.#emit('trackSubscribed', { participant, track, ...media });
      return;
    }
  }

  /** @param {string} sid @param {ParticipantInfo} participant */
  #unpublished(sid, participant) {
    const track = participant.tracks.find((t) => t.sid === sid);
    participant.tracks = participant.tracks.filter((t) => t.sid !== sid);
    this.#unmatched.delete(sid);
    const media = this.#subscribed.get(sid);
    this.#subscribed.delete(sid);
    if (track && media) this.#emit('trackUnsubscribed', { participant, track, ...media });
  }

  /** @param {PeerTarget} target @param {RTCIceCandidateInit} candidate */
  #addRemoteCandidate(target, candidate) {
    const pc = target === 'publisher' ? this.#pub : this.#sub;
    if (!pc?.remoteDescription) {
      this.#remoteCandidates[target]?.push(candidate);
      return;
    }
    // Server candidates are also in its SDP, so a failed add loses nothing.
    pc.addIceCandidate(candidate).catch(() => {});
  }

  /** @param {PeerTarget} target */
  async #flushRemoteCandidates(target) {
    const pc = target === 'publisher' ? this.#pub : this.#sub;
    const queued = this.#remoteCandidates[target].splice(0);
    for (const c of queued) await pc?.addIceCandidate(c).catch(() => {});
  }

  #closePeers() {
    this.#pub?.close();
    this.#sub?.close();
    this.#pub = null;
    this.#sub = null;
    this.#subChain = Promise.resolve();
    this.#remoteCandidates = { publisher: [], subscriber: [] };
    for (const [sid, media] of this.#subscribed) {
      for (const participant of this.participants.values()) {
        const track = participant.tracks.find((t) => t.sid === sid);
        if (track) this.#emit('trackUnsubscribed', { participant, track, ...media });
      }
    }
    this.#subscribed.clear();
    this.#unmatched.clear();
  }

  /** @param {number} code @param {string} reason */
  #onClose(code, reason) {
    this.#ws = null;
    for (const { reject } of this.#pending.values()) {
      reject(new ParleyError('disconnected', `connection closed (${code}${reason ? ` ${reason}` : ''})`));
    }
    this.#pending.clear();
    if (!this.#closedByUs) this.#closePeers();
    this.#emit('disconnected', { code, reason });
  }
}
