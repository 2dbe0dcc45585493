// A publishing peer connection: this client offers, the server answers. Two of them: the camera
// and microphone (`publisher`), and the screen share (`screen`), kept apart because the server
// cannot renegotiate a simulcast connection (docs/protocol.md, "Media model"). Tracks are added
// and removed by re-offering on the same connection; muting never renegotiates.
//
// The server knows each track by the track id of its m-line's `a=msid` in our offer, and names
// it so in `publisher_layers`. That id is not always `MediaStreamTrack.id` (Chromium writes the
// sender's track id there, Firefox an id of its own), so it is read from our own offer, by the
// transceiver's mid, and never taken from the track.

import { watchIce } from './ice.js';

/** @typedef {import('./protocol.js').TrackSource} TrackSource */

/**
 * The camera's simulcast layers, lowest first: quarter, half and full resolution.
 * @type {readonly RTCRtpEncodingParameters[]}
 */
export const SIMULCAST_ENCODINGS = Object.freeze([
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', maxBitrate: 1_500_000 },
]);

/**
 * A shared screen: one layer, capped so that it leaves room for the cameras in the same
 * downlinks (uncapped, Chromium aims at 2.5 Mbit/s for 720p) and favouring sharp text.
 * @type {Readonly<RTCRtpEncodingParameters>}
 */
export const SCREEN_ENCODING = Object.freeze({ maxBitrate: 1_200_000, maxFramerate: 15 });

/**
 * A track this client publishes. It outlives publisher connections: after a reconnect the same
 * local tracks are published again.
 * @typedef {object} LocalTrack
 * @property {string} trackId this client's key for the track: the first track's
 *   `MediaStreamTrack.id` (it stays when `replaceTrack` swaps the media). Not the id the server
 *   knows the track by: that is the msid track id of its m-line, read from the offer (see
 *   `msidTrackIds`)
 * @property {MediaStreamTrack} track
 * @property {MediaStream} stream
 * @property {TrackSource} source
 * @property {boolean} simulcast
 * @property {boolean} muted
 */

/**
 * @typedef {object} PublisherIo
 * @property {(type: string, fields: object) => Promise<any>} request
 * @property {(candidate: RTCIceCandidate) => void} sendCandidate
 * @property {(trouble: import('./ice.js').IceTrouble) => void} onFailed the connection's ICE is
 *   in trouble (see `watchIce`)
 * @property {() => RTCIceServer[]} [iceServers] TURN servers for the connection
 */

/**
 * The msid track id of each m-line of an SDP, by mid: the id the server knows that m-line's track
 * by (`publish.tracks[].track_id`, `publisher_layers.track_id`).
 * @param {string} sdp
 * @returns {Map<string, string>}
 */
export function msidTrackIds(sdp) {
  /** @type {Map<string, string>} */
  const ids = new Map();
  for (const section of sdp.split(/\r?\n(?=m=)/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    // `a=msid:<stream id> <track id>`; the stream id is `-` for a track without a stream.
    const track = /^a=msid:\S+ (\S+)/m.exec(section)?.[1];
    if (mid !== undefined && track) ids.set(mid, track);
  }
  return ids;
}

/**
 * One sent track on this connection.
 * @typedef {object} Sender
 * @property {LocalTrack} local
 * @property {RTCRtpTransceiver} transceiver
 * @property {string | null} msid the track id of its m-line's `a=msid` in our last offer: the id
 *   the server knows it by (null until the first offer)
 * @property {string[] | null} layers dynacast: the RIDs the server last said are needed (null:
 *   all of them)
 */

export class Publisher {
  /** @type {Map<string, Sender>} by `LocalTrack.trackId` */
  #senders = new Map();
  /** Encoding updates (mute, dynacast) run one at a time: each reads the parameters it sets. */
  /** @type {Promise<unknown>} */ #encodings = Promise.resolve();
  /** Negotiations run one at a time: an offer cannot start while another awaits its answer. */
  /** @type {Promise<unknown>} */ #chain = Promise.resolve();
  /** @type {'publisher' | 'screen'} */ #target;
  // The server has no publisher session until its first answer; candidates sent earlier would
  // get `unknown_session`, so they wait. Server candidates wait for our remote description.
  /** @type {RTCIceCandidate[] | null} */ #held = [];
  /** @type {RTCIceCandidateInit[]} */ #remoteCandidates = [];
  #closed = false;
  #io;

  /**
   * @param {PublisherIo} io
   * @param {'publisher' | 'screen'} [target] which of the server's publishing connections this is
   */
  constructor(io, target = 'publisher') {
    this.#io = io;
    this.#target = target;
    this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceServers: io.iceServers?.() ?? [] });
    this.pc.onicecandidate = (ev) => {
      if (!ev.candidate?.candidate) return;
      if (this.#held) this.#held.push(ev.candidate);
      else this.#io.sendCandidate(ev.candidate);
    };
    watchIce(this.pc, (trouble) => {
      if (!this.#closed) this.#io.onFailed(trouble);
    });
  }

  /**
   * Restart ICE (our network changed): a new offer with new ICE credentials, which the server
   * answers with its own. Only once negotiated; queued behind any negotiation in flight.
   */
  restartIce() {
    return this.#serial(async () => {
      if (this.#closed || !this.negotiated) return;
      this.pc.restartIce();
      await this.#negotiate();
    });
  }

  /** Whether the server has answered at least once. */
  get negotiated() {
    return this.#held === null;
  }

  /** @param {string} trackId */
  has(trackId) {
    return this.#senders.has(trackId);
  }

  /**
   * Add tracks and negotiate. On failure the new tracks are taken out again.
   * @param {LocalTrack[]} locals
   */
  add(locals) {
    return this.#serial(async () => {
      const added = [];
      for (const local of locals) {
        /** @type {RTCRtpTransceiverInit} */
        const init = { direction: 'sendonly', streams: [local.stream] };
        if (local.simulcast) init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
        else if (local.source === 'screen') {
          init.sendEncodings = [{ ...SCREEN_ENCODING }];
          // Text stays legible at the cost of frame rate.
          if (local.track.kind === 'video') local.track.contentHint = 'detail';
        }
        const transceiver = this.pc.addTransceiver(local.track, init);
        this.#senders.set(local.trackId, { local, transceiver, msid: null, layers: null });
        added.push(local.trackId);
        if (local.muted) await this.#applyMute(local.trackId);
      }
      try {
        await this.#negotiate();
      } catch (err) {
        for (const id of added) this.#drop(id);
        throw err;
      }
    });
  }

  /**
   * Stop sending a track and negotiate its m-line to inactive.
   * @param {string} trackId
   */
  remove(trackId) {
    return this.#serial(async () => {
      if (!this.#drop(trackId)) return;
      await this.#negotiate();
    });
  }

  /**
   * Stop sending a track at once without negotiating: its m-line goes inactive with the next
   * offer (the next `add`). For the screen connection, whose track the server already dropped
   * on `unpublish`; an offer with nothing new in it would be a round trip for nothing.
   * @param {string} trackId
   */
  detach(trackId) {
    return this.#serial(async () => { this.#drop(trackId); });
  }

  /** @param {string} trackId @returns {boolean} whether it was there */
  #drop(trackId) {
    const entry = this.#senders.get(trackId);
    if (!entry) return false;
    this.#senders.delete(trackId);
    if (this.#closed) return true;
    // removeTrack keeps the transceiver (and its m-line) but makes it inactive in the next offer.
    try {
      this.pc.removeTrack(entry.transceiver.sender);
    } catch {
      // Already closed or never sent: nothing to take back.
    }
    return true;
  }

  /**
   * Mute or unmute locally. Audio keeps its sender and sends silence (`enabled = false`), which
   * unmutes instantly; video switches every encoding off (`active = false`) and detaches the
   * track from its sender (`replaceTrack(null)`), so nothing at all uses the uplink: a disabled
   * track alone still sends black frames (Firefox: 1 fps per layer, plus padding). Unmuting
   * switches back on the encodings dynacast wants. Neither renegotiates.
   * @param {string} trackId
   */
  async setMuted(trackId) {
    await this.#applyMute(trackId);
  }

  /** @param {string} trackId */
  async #applyMute(trackId) {
    const entry = this.#senders.get(trackId);
    if (!entry) return;
    const { local, transceiver } = entry;
    local.track.enabled = !local.muted;
    if (local.track.kind !== 'video') return;
    // Off: encoder first, then the track. On: the track first, then the encoder.
    // Before its first offer a sender has nothing to switch: `#negotiate` applies it.
    const offered = entry.msid !== null;
    if (local.muted && offered) await this.#applyEncodings(entry);
    const want = local.muted ? null : local.track;
    if (transceiver.sender.track !== want && !this.#closed) await transceiver.sender.replaceTrack(want);
    if (!local.muted && offered) await this.#applyEncodings(entry);
  }

  /**
   * Send a different capture of the same track (another camera, say) without renegotiating.
   * @param {string} trackId
   * @param {MediaStreamTrack} track
   */
  async replace(trackId, track) {
    const entry = this.#senders.get(trackId);
    if (!entry) return;
    entry.local.track = track;
    await this.#applyMute(trackId);
  }

  /**
   * Dynacast: only these simulcast encodings of a track are needed by anyone; the others stop
   * encoding, which saves this device's CPU and uplink. A muted video stays off; unmuting it
   * switches on these.
   * @param {string} msid the server's id of the track (`publisher_layers.track_id`): the track id
   *   of its m-line's `a=msid`
   * @param {string[]} activeRids
   * @returns {Promise<boolean>} whether the track is sent on this connection
   */
  async applyLayers(msid, activeRids) {
    const entry = [...this.#senders.values()].find((e) => e.msid === msid);
    if (!entry || this.#closed) return false;
    entry.layers = [...activeRids];
    await this.#applyEncodings(entry);
    return true;
  }

  /**
   * The server's id of a track sent on this connection (the msid track id of its m-line), once
   * offered.
   * @param {string} trackId `LocalTrack.trackId`
   * @returns {string | null}
   */
  msidOf(trackId) {
    return this.#senders.get(trackId)?.msid ?? null;
  }

  /**
   * Set `active` on each encoding of a sender from its state: all off while a video is muted,
   * else the ones dynacast wants (an encoding without a RID, the only one, always).
   * @param {Sender} entry
   */
  #applyEncodings(entry) {
    const run = this.#encodings.then(async () => {
      if (this.#closed || this.#senders.get(entry.local.trackId) !== entry) return;
      const { sender } = entry.transceiver;
      const params = sender.getParameters();
      if (!params.encodings?.length) return;
      const off = entry.local.muted && entry.local.track.kind === 'video';
      let changed = false;
      for (const encoding of params.encodings) {
        const active = !off && (!encoding.rid || !entry.layers || entry.layers.includes(encoding.rid));
        if (encoding.active !== active) {
          encoding.active = active;
          changed = true;
        }
      }
      if (!changed) return;
      try {
        await sender.setParameters(params);
      } catch (err) {
        // A renegotiation in flight can refuse parameters; it applies them when it is done.
        console.warn('parley: could not set the encodings of a sender', err);
      }
    });
    this.#encodings = run.catch(() => {});
    return run;
  }

  /** @param {RTCIceCandidateInit} candidate */
  addRemoteCandidate(candidate) {
    if (!this.pc.remoteDescription) {
      this.#remoteCandidates.push(candidate);
      return;
    }
    // Server candidates are also in its SDP, so a failed add loses nothing.
    this.pc.addIceCandidate(candidate).catch(() => {});
  }

  close() {
    this.#closed = true;
    this.pc.close();
    this.#senders.clear();
  }

  /**
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  #serial(fn) {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #negotiate() {
    const pc = this.pc;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // The server names tracks by the msid in this offer: read it back per transceiver.
    const msids = msidTrackIds(pc.localDescription?.sdp ?? offer.sdp ?? '');
    for (const entry of this.#senders.values()) {
      const mid = entry.transceiver.mid;
      entry.msid = (mid !== null ? msids.get(mid) : undefined) ?? entry.msid ?? entry.local.trackId;
    }
    const tracks = [...this.#senders.values()].map(({ local, msid }) => ({ track_id: msid, source: local.source }));
    let reply;
    try {
      // The camera connection is the default target; servers before the screen connection
      // know no `target` at all.
      const target = this.#target === 'publisher' ? undefined : this.#target;
      reply = await this.#io.request('publish', { sdp: pc.localDescription?.sdp ?? offer.sdp, tracks, target });
    } catch (err) {
      // Back to the last agreed state, so the next negotiation starts from stable.
      if (!this.#closed && pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      }
      throw err;
    }
    if (this.#closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
    for (const c of this.#remoteCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
    const held = this.#held;
    this.#held = null;
    for (const c of held ?? []) this.#io.sendCandidate(c);
    // Mutes and dynacast layers that came before the answer (or that it refused meanwhile).
    await Promise.all([...this.#senders.values()].map((e) => this.#applyEncodings(e)));
  }
}
