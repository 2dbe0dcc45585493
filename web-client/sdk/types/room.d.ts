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
    /** @param {RoomHooks} hooks */
    constructor(hooks: RoomHooks);
    /** Other participants, by sid. @type {Map<string, ParticipantInfo>} */
    participants: Map<string, ParticipantInfo>;
    /** This client as the server knows it. @type {ParticipantInfo | null} */
    you: ParticipantInfo | null;
    /**
     * Hidden WHEP viewers of the room, by sid: known to moderators only (the `moderate` grant).
     * @type {Map<string, ParticipantInfo>}
     */
    viewers: Map<string, ParticipantInfo>;
    /**
     * A fresh join: everyone already there is announced as joined (viewers, for a moderator, as
     * `viewerJoined`).
     * @param {ParticipantInfo} you @param {ParticipantInfo[]} participants
     * @param {ParticipantInfo[]} [viewers]
     */
    joined(you: ParticipantInfo, participants: ParticipantInfo[], viewers?: ParticipantInfo[]): void;
    /**
     * Forget everyone. `announce`: tell listeners they left (the connection dropped and the room
     * will be rebuilt), rather than leaving quietly (we left).
     * @param {boolean} announce
     */
    clear(announce: boolean): void;
    /**
     * The room as the server says it is now (a resumed session): whatever changed since our last
     * event is applied as the events would have been (joins, leaves, tracks, mutes).
     * @param {ParticipantInfo} you @param {ParticipantInfo[]} participants
     */
    resync(you: ParticipantInfo, participants: ParticipantInfo[]): void;
    /** The received media of a track, once announced. @param {string} sid */
    media(sid: string): Media | null;
    /** @param {string} sid track sid (the msid stream id) @param {Media} media */
    mediaArrived(sid: string, media: Media): void;
    /** The peer connections closed: every received track ends. */
    mediaClosed(): void;
    /**
     * Apply one of the server's room events.
     * @param {any} msg
     * @returns {boolean} whether it was a room event
     */
    handle(msg: any): boolean;
    #private;
}
export type ParticipantInfo = import("./protocol.js").ParticipantInfo;
export type TrackInfo = import("./protocol.js").TrackInfo;
export type ParleyEvents = import("./events.js").ParleyEvents;
export type Media = {
    mediaTrack: MediaStreamTrack;
    stream: MediaStream;
};
export type RoomHooks = {
    emit: <K extends keyof ParleyEvents>(name: K, payload: ParleyEvents[K]) => void;
    /**
     * the server announced one of our tracks
     */
    ownTrackPublished: (track: TrackInfo) => void;
    /**
     * a received track ended (stop observing it)
     */
    trackGone: (sid: string) => void;
    participantGone: (sid: string) => void;
};
