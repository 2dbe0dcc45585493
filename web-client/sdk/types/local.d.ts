/** Whether a source is sent on the screen connection. @param {TrackSource} source */
export function isScreen(source: TrackSource): source is "screen" | "screen_audio";
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
    /** @param {LocalMediaIo} io */
    constructor(io: LocalMediaIo);
    /** @returns {LocalTrack[]} */
    get tracks(): LocalTrack[];
    get publisherPc(): RTCPeerConnection | null;
    get screenPc(): RTCPeerConnection | null;
    /** A new join: the server knows no mute state of ours yet. */
    joined(): void;
    /** After a reconnect: publish every local track again, on fresh connections. */
    republish(): Promise<void>;
    /** The server announced one of our tracks. @param {TrackInfo} t */
    ownTrackPublished(t: TrackInfo): void;
    /** @param {'publisher' | 'screen'} target @param {RTCIceCandidateInit} candidate */
    addRemoteCandidate(target: "publisher" | "screen", candidate: RTCIceCandidateInit): void;
    /**
     * Dynacast (`publisher_layers`): only these encodings of one of our tracks are needed.
     * @param {string} msid the server's id of the track: the msid track id of its m-line in our
     *   offer, which is not always its `MediaStreamTrack.id` (Firefox)
     * @param {string[]} active RIDs
     */
    applyLayers(msid: string, active: string[]): Promise<void>;
    /**
     * Restart ICE on the publishing connection `target` (or on both): new offers with new ICE
     * credentials.
     * @param {'publisher' | 'screen'} [target]
     */
    restartIce(target?: "publisher" | "screen"): Promise<void>;
    /** Close the connections; the local tracks stay (a reconnect publishes them again). */
    closePeers(): void;
    /** Forget the local tracks too (left the room). */
    clear(): void;
    /**
     * Publish the stream's tracks on the publisher connection (again callable later to add more).
     * The camera is sent as three simulcast layers (see `SIMULCAST_ENCODINGS`) unless
     * `options.simulcast` is `false`.
     * @param {MediaStream} stream
     * @param {{sources?: Record<string, TrackSource>, simulcast?: boolean}} [options] `sources`:
     *   source per `MediaStreamTrack.id`; defaults to camera for video, microphone for audio
     */
    publish(stream: MediaStream, options?: {
        sources?: Record<string, TrackSource>;
        simulcast?: boolean;
    }): Promise<void>;
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
    publishScreen(constraints?: DisplayMediaStreamOptions, options?: {
        stream?: MediaStream;
    }): Promise<MediaStream>;
    /**
     * Stop publishing a track: the server is told (`unpublish`), so the others drop it at once,
     * and its m-line goes inactive. The track itself is stopped too. A screen track only stops
     * sending: its connection stays for the next share, whose offer retires the old m-line (the
     * server cannot take a second screen connection while the first exists).
     * @param {MediaStreamTrack | TrackSource} trackOrSource
     */
    unpublish(trackOrSource: MediaStreamTrack | TrackSource): Promise<void>;
    /**
     * Mute or unmute one of this client's tracks by source (`microphone`, `camera`, ...). Works
     * locally in any case (see `Publisher.setMuted`); servers that support it also tell the others
     * (`trackMuted` on their side).
     * @param {TrackSource} source
     * @param {boolean} muted
     */
    setMuted(source: TrackSource, muted: boolean): Promise<void>;
    /** @param {TrackSource} source */
    isMuted(source: TrackSource): boolean;
    /**
     * Send another capture (e.g. a different camera or microphone) in place of a published track,
     * without renegotiating. The old track is not stopped.
     * @param {TrackSource} source
     * @param {MediaStreamTrack} track
     */
    replace(source: TrackSource, track: MediaStreamTrack): Promise<void>;
    #private;
}
export type TrackSource = import("./protocol.js").TrackSource;
export type TrackInfo = import("./protocol.js").TrackInfo;
export type ParticipantInfo = import("./protocol.js").ParticipantInfo;
export type LocalTrack = import("./publisher.js").LocalTrack;
export type LocalMediaIo = {
    request: (type: string, fields: object) => Promise<any>;
    sendCandidate: (target: "publisher" | "screen", candidate: RTCIceCandidate) => void;
    mediaFailed: (target: "publisher" | "screen", trouble: import("./ice.js").IceTrouble) => void;
    /**
     * TURN servers for new connections
     */
    iceServers: () => RTCIceServer[];
    /**
     * this session as the server knows it
     */
    you: () => ParticipantInfo | null;
    fail: (err: unknown) => void;
};
