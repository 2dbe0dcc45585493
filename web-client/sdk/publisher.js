// A publishing peer connection: this client offers, the server answers. Two of them: the camera
// and microphone (`publisher`), and the screen share (`screen`), kept apart because the server
// cannot renegotiate a simulcast connection (docs/protocol.md, "Media model"). Tracks are added
// and removed by re-offering on the same connection; muting never renegotiates.

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
 * @property {string} trackId the id the server knows the track by: the first track's id, which
 *   stays in the SDP's msid when `replaceTrack` swaps the media
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
 * @property {() => void} onFailed ICE/DTLS gave up on the connection
 */

export class Publisher {
  /** @type {Map<string, {local: LocalTrack, transceiver: RTCRtpTransceiver}>} by `trackId` */
  #senders = new Map();
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
    this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.pc.onicecandidate = (ev) => {
      if (!ev.candidate?.candidate) return;
      if (this.#held) this.#held.push(ev.candidate);
      else this.#io.sendCandidate(ev.candidate);
    };
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === 'failed' && !this.#closed) this.#io.onFailed();
    };
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
        this.#senders.set(local.trackId, { local, transceiver });
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
   * unmutes instantly; video detaches the track from its sender (`replaceTrack(null)`) so no
   * black frames use the uplink. Neither renegotiates, and the simulcast encodings stay as set.
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
    const want = local.muted ? null : local.track;
    if (transceiver.sender.track !== want && !this.#closed) await transceiver.sender.replaceTrack(want);
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
   * encoding, which saves this device's CPU and uplink.
   * @param {string} trackId
   * @param {string[]} activeRids
   */
  async applyLayers(trackId, activeRids) {
    const sender = this.#senders.get(trackId)?.transceiver.sender;
    if (!sender || this.#closed) return;
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
    const tracks = [...this.#senders.values()].map(({ local }) => ({ track_id: local.trackId, source: local.source }));
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
  }
}
