/** @typedef {import('./protocol.js').TrackSource} TrackSource */
/**
 * The camera's simulcast layers, lowest first: quarter, half and full resolution.
 * @type {readonly RTCRtpEncodingParameters[]}
 */
export const SIMULCAST_ENCODINGS: readonly RTCRtpEncodingParameters[];
/**
 * A shared screen: one layer, capped so that it leaves room for the cameras in the same
 * downlinks (uncapped, Chromium aims at 2.5 Mbit/s for 720p) and favouring sharp text.
 * @type {Readonly<RTCRtpEncodingParameters>}
 */
export const SCREEN_ENCODING: Readonly<RTCRtpEncodingParameters>;
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
    /**
     * @param {PublisherIo} io
     * @param {'publisher' | 'screen'} [target] which of the server's publishing connections this is
     */
    constructor(io: PublisherIo, target?: "publisher" | "screen");
    pc: RTCPeerConnection;
    /** Whether the server has answered at least once. */
    get negotiated(): boolean;
    /** @param {string} trackId */
    has(trackId: string): boolean;
    /**
     * Add tracks and negotiate. On failure the new tracks are taken out again.
     * @param {LocalTrack[]} locals
     */
    add(locals: LocalTrack[]): Promise<void>;
    /**
     * Stop sending a track and negotiate its m-line to inactive.
     * @param {string} trackId
     */
    remove(trackId: string): Promise<void>;
    /**
     * Stop sending a track at once without negotiating: its m-line goes inactive with the next
     * offer (the next `add`). For the screen connection, whose track the server already dropped
     * on `unpublish`; an offer with nothing new in it would be a round trip for nothing.
     * @param {string} trackId
     */
    detach(trackId: string): Promise<void>;
    /**
     * Mute or unmute locally. Audio keeps its sender and sends silence (`enabled = false`), which
     * unmutes instantly; video detaches the track from its sender (`replaceTrack(null)`) so no
     * black frames use the uplink. Neither renegotiates, and the simulcast encodings stay as set.
     * @param {string} trackId
     */
    setMuted(trackId: string): Promise<void>;
    /**
     * Send a different capture of the same track (another camera, say) without renegotiating.
     * @param {string} trackId
     * @param {MediaStreamTrack} track
     */
    replace(trackId: string, track: MediaStreamTrack): Promise<void>;
    /**
     * Dynacast: only these simulcast encodings of a track are needed by anyone; the others stop
     * encoding, which saves this device's CPU and uplink.
     * @param {string} trackId
     * @param {string[]} activeRids
     */
    applyLayers(trackId: string, activeRids: string[]): Promise<void>;
    /** @param {RTCIceCandidateInit} candidate */
    addRemoteCandidate(candidate: RTCIceCandidateInit): void;
    close(): void;
    #private;
}
export type TrackSource = import("./protocol.js").TrackSource;
/**
 * A track this client publishes. It outlives publisher connections: after a reconnect the same
 * local tracks are published again.
 */
export type LocalTrack = {
    /**
     * the id the server knows the track by: the first track's id, which
     * stays in the SDP's msid when `replaceTrack` swaps the media
     */
    trackId: string;
    track: MediaStreamTrack;
    stream: MediaStream;
    source: TrackSource;
    simulcast: boolean;
    muted: boolean;
};
export type PublisherIo = {
    request: (type: string, fields: object) => Promise<any>;
    sendCandidate: (candidate: RTCIceCandidate) => void;
    /**
     * ICE/DTLS gave up on the connection
     */
    onFailed: () => void;
};
