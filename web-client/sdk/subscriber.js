// The subscriber peer connection: the server offers whenever the set of tracks this client
// receives changes, and we answer. Offers are applied one at a time, in order.

import { watchIce } from './ice.js';

/**
 * @typedef {object} SubscriberIo
 * @property {(type: string, fields: object) => Promise<any>} request
 * @property {(candidate: RTCIceCandidate) => void} sendCandidate
 * @property {(streamId: string, media: {mediaTrack: MediaStreamTrack, stream: MediaStream}) => void} onTrack
 *   a track arrived; its msid stream id is the server's track sid
 * @property {(err: unknown) => void} onError
 * @property {(trouble: import('./ice.js').IceTrouble) => void} onFailed the connection's ICE is
 *   in trouble (see `watchIce`)
 * @property {() => RTCIceServer[]} [iceServers] TURN servers for the connection
 */

export class Subscriber {
  /** Created with the first offer. @type {RTCPeerConnection | null} */
  pc = null;
  /** @type {Promise<void>} */ #chain = Promise.resolve();
  /** Server candidates that arrived before the first offer was applied. */
  /** @type {RTCIceCandidateInit[]} */ #candidates = [];
  #closed = false;
  #io;

  /** @param {SubscriberIo} io */
  constructor(io) {
    this.#io = io;
  }

  /** @param {string} sdp a `subscribe_offer` */
  offer(sdp) {
    this.#chain = this.#chain.then(() => this.#answer(sdp)).catch((err) => {
      if (!this.#closed) this.#io.onError(err);
    });
  }

  /** @param {RTCIceCandidateInit} candidate */
  addRemoteCandidate(candidate) {
    if (!this.pc?.remoteDescription) {
      this.#candidates.push(candidate);
      return;
    }
    // Server candidates are also in its SDP, so a failed add loses nothing.
    this.pc.addIceCandidate(candidate).catch(() => {});
  }

  close() {
    this.#closed = true;
    this.pc?.close();
  }

  /**
   * Ask the server for an ICE restart of this connection (`restart_ice`): its next offer has
   * new ICE credentials, and our answer restarts ICE here too.
   */
  restartIce() {
    return this.#io.request('restart_ice', {});
  }

  /** @param {string} sdp */
  async #answer(sdp) {
    if (this.#closed) return;
    const pc = (this.pc ??= this.#create());
    if (pc.signalingState === 'stable' && pc.remoteDescription?.sdp === sdp && pc.localDescription) {
      // The server sent an offer again: our answer was lost with a socket (a resumed session).
      await this.#io.request('subscribe_answer', { sdp: pc.localDescription.sdp });
      return;
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    for (const c of this.#candidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (this.#closed) return;
    await this.#io.request('subscribe_answer', { sdp: pc.localDescription?.sdp ?? answer.sdp });
  }

  #create() {
    // The server's offer decides bundling; as answerer we just accept what it offers.
    const pc = new RTCPeerConnection({ iceServers: this.#io.iceServers?.() ?? [] });
    pc.onicecandidate = (ev) => {
      if (ev.candidate?.candidate) this.#io.sendCandidate(ev.candidate);
    };
    watchIce(pc, (trouble) => {
      if (!this.#closed) this.#io.onFailed(trouble);
    });
    pc.ontrack = (ev) => {
      const stream = ev.streams[0];
      if (!stream) return; // no msid: not a Parley track, nothing to map it to
      this.#io.onTrack(stream.id, { mediaTrack: ev.track, stream });
    };
    return pc;
  }
}
