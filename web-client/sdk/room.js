// What this client knows of its room: who is in it, their tracks, and which received media
// belongs to which track. Turns the server's room events into the SDK's participant and track
// events; knows nothing of sockets or peer connections.

/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./events.js').ParleyEvents} ParleyEvents */
/** @typedef {{mediaTrack: MediaStreamTrack, stream: MediaStream}} Media */

/**
 * @typedef {object} RoomHooks
 * @property {<K extends keyof ParleyEvents>(name: K, payload: ParleyEvents[K]) => void} emit
 * @property {(track: TrackInfo) => void} ownTrackPublished the server announced one of our tracks
 * @property {(sid: string) => void} trackGone a received track ended (stop observing it)
 * @property {(sid: string) => void} participantGone
 */

export class Room {
  /** Other participants, by sid. @type {Map<string, ParticipantInfo>} */
  participants = new Map();
  /** This client as the server knows it. @type {ParticipantInfo | null} */
  you = null;
  /** Media that reached `ontrack` before we knew whose it is, by track sid. @type {Map<string, Media>} */
  #unmatched = new Map();
  /** Media announced through `trackSubscribed`, by track sid. @type {Map<string, Media>} */
  #subscribed = new Map();
  #hooks;

  /** @param {RoomHooks} hooks */
  constructor(hooks) {
    this.#hooks = hooks;
  }

  /**
   * Hidden WHEP viewers of the room, by sid: known to moderators only (the `moderate` grant).
   * @type {Map<string, ParticipantInfo>}
   */
  viewers = new Map();

  /**
   * A fresh join: everyone already there is announced as joined (viewers, for a moderator, as
   * `viewerJoined`).
   * @param {ParticipantInfo} you @param {ParticipantInfo[]} participants
   * @param {ParticipantInfo[]} [viewers]
   */
  joined(you, participants, viewers = []) {
    this.you = you;
    this.participants.clear();
    this.viewers.clear();
    for (const p of participants) this.participants.set(p.sid, p);
    for (const v of viewers) this.viewers.set(v.sid, v);
    for (const p of participants) this.#hooks.emit('participantJoined', p);
    for (const v of viewers) this.#hooks.emit('viewerJoined', v);
  }

  /**
   * Forget everyone. `announce`: tell listeners they left (the connection dropped and the room
   * will be rebuilt), rather than leaving quietly (we left).
   * @param {boolean} announce
   */
  clear(announce) {
    if (announce) for (const p of this.participants.values()) this.#hooks.emit('participantLeft', p);
    this.participants.clear();
    this.viewers.clear();
    this.you = null;
  }

  /**
   * The room as the server says it is now (a resumed session): whatever changed since our last
   * event is applied as the events would have been (joins, leaves, tracks, mutes).
   * @param {ParticipantInfo} you @param {ParticipantInfo[]} participants
   */
  resync(you, participants) {
    const now = new Map(participants.map((p) => [p.sid, p]));
    for (const sid of [...this.participants.keys()]) {
      if (!now.has(sid)) this.handle({ type: 'participant_left', sid });
    }
    for (const p of participants) {
      const known = this.participants.get(p.sid);
      if (!known) {
        this.handle({ type: 'participant_joined', participant: p });
        continue;
      }
      for (const t of [...known.tracks]) {
        if (!p.tracks.some((x) => x.sid === t.sid)) this.handle({ type: 'track_unpublished', sid: t.sid, participant: p.sid });
      }
      for (const t of p.tracks) {
        const had = known.tracks.find((x) => x.sid === t.sid);
        if (!had) this.handle({ type: 'track_published', track: t });
        else if (Boolean(had.muted) !== Boolean(t.muted)) this.handle({ type: 'track_muted', participant: p.sid, track: t.sid, muted: t.muted });
      }
    }
    if (this.you) this.you.tracks = you.tracks;
  }

  /** The received media of a track, once announced. @param {string} sid */
  media(sid) {
    return this.#subscribed.get(sid) ?? null;
  }

  /** @param {string} sid track sid (the msid stream id) @param {Media} media */
  mediaArrived(sid, media) {
    this.#unmatched.set(sid, media);
    this.#match(sid);
  }

  /** The peer connections closed: every received track ends. */
  mediaClosed() {
    for (const [sid, media] of this.#subscribed) {
      for (const participant of this.participants.values()) {
        const track = participant.tracks.find((t) => t.sid === sid);
        if (track) this.#hooks.emit('trackUnsubscribed', { participant, track, ...media });
      }
      this.#hooks.trackGone(sid);
    }
    this.#subscribed.clear();
    this.#unmatched.clear();
  }

  /**
   * Apply one of the server's room events.
   * @param {any} msg
   * @returns {boolean} whether it was a room event
   */
  handle(msg) {
    switch (msg.type) {
      case 'participant_joined': {
        /** @type {ParticipantInfo} */
        const p = msg.participant;
        this.participants.set(p.sid, p);
        this.#hooks.emit('participantJoined', p);
        for (const t of p.tracks) this.#match(t.sid);
        return true;
      }
      case 'participant_left': {
        const p = this.participants.get(msg.sid);
        if (!p) return true;
        // The server unpublishes first, but a dropped message must not leave tracks behind.
        for (const t of [...p.tracks]) this.#unpublished(t.sid, p);
        this.participants.delete(msg.sid);
        this.#hooks.participantGone(msg.sid);
        this.#hooks.emit('participantLeft', p);
        return true;
      }
      case 'viewer_joined': {
        /** @type {ParticipantInfo} */
        const v = msg.participant;
        if (!this.viewers.has(v.sid)) {
          this.viewers.set(v.sid, v);
          this.#hooks.emit('viewerJoined', v);
        }
        return true;
      }
      case 'viewer_left': {
        const v = this.viewers.get(msg.sid);
        if (v) {
          this.viewers.delete(msg.sid);
          this.#hooks.emit('viewerLeft', v);
        }
        return true;
      }
      case 'track_published': {
        /** @type {TrackInfo} */
        const t = msg.track;
        const p = this.participants.get(t.participant);
        if (p) {
          if (!p.tracks.some((x) => x.sid === t.sid)) p.tracks.push(t);
          this.#match(t.sid);
        } else if (this.you && t.participant === this.you.sid) {
          if (!this.you.tracks.some((x) => x.sid === t.sid)) this.you.tracks.push(t);
          this.#hooks.ownTrackPublished(t);
        }
        return true;
      }
      case 'track_unpublished': {
        const p = this.participants.get(msg.participant);
        if (p) this.#unpublished(msg.sid, p);
        else if (this.you) this.you.tracks = this.you.tracks.filter((t) => t.sid !== msg.sid);
        return true;
      }
      case 'track_muted': {
        const local = this.you?.sid === msg.participant;
        const p = local ? this.you : this.participants.get(msg.participant);
        const track = p?.tracks.find((t) => t.sid === msg.track);
        if (!p || !track) return true;
        track.muted = Boolean(msg.muted);
        this.#hooks.emit('trackMuted', { participant: p, track, muted: track.muted, local });
        return true;
      }
      default:
        return false;
    }
  }

  /** Announce a received track once both its media and its publisher are known. @param {string} sid */
  #match(sid) {
    const media = this.#unmatched.get(sid);
    if (!media) return;
    for (const participant of this.participants.values()) {
      const track = participant.tracks.find((t) => t.sid === sid);
      if (!track) continue;
      this.#unmatched.delete(sid);
      this.#subscribed.set(sid, media);
      this.#hooks.emit('trackSubscribed', { participant, track, ...media });
      return;
    }
  }

  /** @param {string} sid @param {ParticipantInfo} participant */
  #unpublished(sid, participant) {
    const track = participant.tracks.find((t) => t.sid === sid);
    participant.tracks = participant.tracks.filter((t) => t.sid !== sid);
    this.#unmatched.delete(sid);
    this.#hooks.trackGone(sid);
    const media = this.#subscribed.get(sid);
    this.#subscribed.delete(sid);
    if (track && media) this.#hooks.emit('trackUnsubscribed', { participant, track, ...media });
  }
}
