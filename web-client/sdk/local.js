// What this client publishes: its local tracks (kept across reconnects) and the two connections
// they are sent on, the camera/microphone publisher and the screen share's own (docs/protocol.md,
// "Media model"), plus telling the room about mutes and unpublished tracks.

import { ParleyError } from './protocol.js';
import { Publisher } from './publisher.js';

/** @typedef {import('./protocol.js').TrackSource} TrackSource */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./publisher.js').LocalTrack} LocalTrack */

/**
 * @typedef {object} LocalMediaIo
 * @property {(type: string, fields: object) => Promise<any>} request
 * @property {(target: 'publisher' | 'screen', candidate: RTCIceCandidate) => void} sendCandidate
 * @property {(target: 'publisher' | 'screen', trouble: import('./ice.js').IceTrouble) => void} mediaFailed
 * @property {() => RTCIceServer[]} iceServers TURN servers for new connections
 * @property {() => ParticipantInfo | null} you this session as the server knows it
 * @property {(err: unknown) => void} fail
 */

export class LocalMedia {
  /** By `LocalTrack.trackId`. @type {Map<string, LocalTrack>} */ #locals = new Map();
  /** @type {Publisher | null} */ #publisher = null;
  /** The screen share's own connection, reused by every share of this session. @type {Publisher | null} */
  #screen = null;
  /** Mute state last sent with `set_track_muted`, by track sid. @type {Map<string, boolean>} */
  #announced = new Map();
  // Requests newer servers understand; cleared when this one answers `unknown_type`.
  #supports = { set_track_muted: true, unpublish: true };
  #io;

  /** @param {LocalMediaIo} io */
  constructor(io) {
    this.#io = io;
  }

  /** @returns {LocalTrack[]} */
  get tracks() { return [...this.#locals.values()]; }
  get publisherPc() { return this.#publisher?.pc ?? null; }
  get screenPc() { return this.#screen?.pc ?? null; }

  /** A new join: the server knows no mute state of ours yet. */
  joined() {
    this.#announced.clear();
  }

  /** After a reconnect: publish every local track again, on fresh connections. */
  async republish() {
    if (this.#locals.size) await this.#publishLocals(this.tracks);
  }

  /** The server announced one of our tracks. @param {TrackInfo} t */
  ownTrackPublished(t) {
    const local = this.#local(t.source);
    // Muted before the server knew the track: tell it now.
    if (local) this.#announceMute(local);
    // A share stopped before its sid arrived: the server has it now, so end it there too.
    else if (isScreen(t.source) && this.#supports.unpublish) this.#optional('unpublish', { track: t.sid });
  }

  /** @param {'publisher' | 'screen'} target @param {RTCIceCandidateInit} candidate */
  addRemoteCandidate(target, candidate) {
    (target === 'screen' ? this.#screen : this.#publisher)?.addRemoteCandidate(candidate);
  }

  /**
   * Dynacast (`publisher_layers`): only these encodings of one of our tracks are needed.
   * @param {string} msid the server's id of the track: the msid track id of its m-line in our
   *   offer, which is not always its `MediaStreamTrack.id` (Firefox)
   * @param {string[]} active RIDs
   */
  async applyLayers(msid, active) {
    if (await this.#publisher?.applyLayers(msid, active)) return;
    await this.#screen?.applyLayers(msid, active);
  }

  /**
   * Restart ICE on the publishing connection `target` (or on both): new offers with new ICE
   * credentials.
   * @param {'publisher' | 'screen'} [target]
   */
  async restartIce(target) {
    const legs = target ? [target === 'screen' ? this.#screen : this.#publisher] : [this.#publisher, this.#screen];
    await Promise.all(legs.map((leg) => leg?.restartIce()));
  }

  /** Close the connections; the local tracks stay (a reconnect publishes them again). */
  closePeers() {
    this.#publisher?.close();
    this.#screen?.close();
    this.#publisher = null;
    this.#screen = null;
  }

  /** Forget the local tracks too (left the room). */
  clear() {
    this.closePeers();
    this.#locals.clear();
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
      if (this.tracks.some((l) => l.source === source)) {
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

  /** Camera and microphone go on the publisher connection, a shared screen on its own. @param {LocalTrack[]} locals */
  async #publishLocals(locals) {
    const screen = locals.filter((l) => isScreen(l.source));
    const rest = locals.filter((l) => !isScreen(l.source));
    if (rest.length) await this.#publishOn('publisher', rest);
    if (screen.length) await this.#publishOn('screen', screen);
  }

  /** @param {'publisher' | 'screen'} target @param {LocalTrack[]} locals */
  async #publishOn(target, locals) {
    const existing = target === 'screen' ? this.#screen : this.#publisher;
    const publisher = existing ?? new Publisher({
      request: (type, fields) => this.#io.request(type, fields),
      sendCandidate: (c) => this.#io.sendCandidate(target, c),
      onFailed: (trouble) => this.#io.mediaFailed(target, trouble),
      iceServers: () => this.#io.iceServers(),
    }, target);
    if (target === 'screen') this.#screen = publisher;
    else this.#publisher = publisher;
    try {
      await publisher.add(locals);
    } catch (err) {
      // A connection that never got an answer is useless; the next publish starts afresh.
      if (!publisher.negotiated) {
        publisher.close();
        if (this.#screen === publisher) this.#screen = null;
        if (this.#publisher === publisher) this.#publisher = null;
      }
      throw err;
    }
  }

  /**
   * Share the screen: `getDisplayMedia`, published as one layer (no simulcast) with source
   * `screen`, on a connection of its own so the camera's is never renegotiated. Stopping it, from
   * `unpublish` or the browser's own "stop sharing", unpublishes it.
   * @param {DisplayMediaStreamOptions} [constraints]
   * @param {{stream?: MediaStream}} [options] `stream`: share this instead of asking
   *   `getDisplayMedia` (a capture the app made itself, a canvas `captureStream()`); the SDK owns
   *   it from then on and stops its tracks when the share ends
   * @returns {Promise<MediaStream>}
   */
  async publishScreen(constraints = { video: { frameRate: 15 }, audio: false }, options = {}) {
    if (this.tracks.some((l) => l.source === 'screen')) {
      throw new ParleyError('already_publishing', 'the screen is already shared');
    }
    const stream = options.stream ?? await navigator.mediaDevices.getDisplayMedia(constraints);
    /** @type {Record<string, TrackSource>} */
    const sources = {};
    for (const track of stream.getTracks()) {
      sources[track.id] = track.kind === 'video' ? 'screen' : 'screen_audio';
      track.addEventListener('ended', () => {
        if (this.#locals.has(track.id)) this.unpublish(track).catch((err) => this.#io.fail(err));
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
   * and its m-line goes inactive. The track itself is stopped too. A screen track only stops
   * sending: its connection stays for the next share, whose offer retires the old m-line (the
   * server cannot take a second screen connection while the first exists).
   * @param {MediaStreamTrack | TrackSource} trackOrSource
   */
  async unpublish(trackOrSource) {
    const local = this.#local(trackOrSource);
    if (!local) return;
    this.#locals.delete(local.trackId);
    local.track.stop();
    const you = this.#io.you();
    const info = you?.tracks.find((t) => t.source === local.source);
    if (you && info) {
      // The server does not echo our own unpublish; a later share must not find this sid.
      you.tracks = you.tracks.filter((t) => t !== info);
      if (this.#supports.unpublish) await this.#optional('unpublish', { track: info.sid });
    }
    if (isScreen(local.source)) {
      // Without `unpublish` the server only learns of the end by a renegotiation. With it, a
      // track whose sid has not arrived yet is unpublished when it does (`ownTrackPublished`).
      if (this.#supports.unpublish) await this.#screen?.detach(local.trackId);
      else await this.#screen?.remove(local.trackId);
    } else {
      await this.#publisher?.remove(local.trackId);
    }
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
    await this.#leg(local).setMuted(local.trackId);
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
  async replace(source, track) {
    const local = this.#local(source);
    if (!local) throw new ParleyError('not_published', `no ${source} track is published`);
    await this.#leg(local).replace(local.trackId, track);
    local.track = track;
  }

  /** The connection a local track is sent on (or a no-op before there is one). @param {LocalTrack} local */
  #leg(local) {
    const pub = isScreen(local.source) ? this.#screen : this.#publisher;
    return pub ?? { setMuted: async () => {}, replace: async () => {} };
  }

  /** @param {MediaStreamTrack | TrackSource} trackOrSource */
  #local(trackOrSource) {
    return this.tracks.find((l) => (typeof trackOrSource === 'string'
      ? l.source === trackOrSource
      : l.track === trackOrSource || l.trackId === trackOrSource.id));
  }

  /** Tell the server our mute state once it knows the track. @param {LocalTrack} local */
  async #announceMute(local) {
    const info = this.#io.you()?.tracks.find((t) => t.source === local.source);
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
      await this.#io.request(type, fields);
      return true;
    } catch (err) {
      const code = /** @type {ParleyError} */ (err).code;
      if (code === 'unknown_type') this.#supports[type] = false;
      else if (code !== 'not_connected' && code !== 'disconnected') this.#io.fail(err);
      return false;
    }
  }

}

/** Whether a source is sent on the screen connection. @param {TrackSource} source */
export function isScreen(source) {
  return source === 'screen' || source === 'screen_audio';
}
