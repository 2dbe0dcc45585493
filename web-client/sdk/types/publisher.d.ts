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
export function msidTrackIds(sdp: string): Map<string, string>;
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
    /**
     * @param {PublisherIo} io
     * @param {'publisher' | 'screen'} [target] which of the server's publishing connections this is
     */
    constructor(io: PublisherIo, target?: "publisher" | "screen");
    pc: RTCPeerConnection;
    /**
     * Restart ICE (our network changed): a new offer with new ICE credentials, which the server
     * answers with its own. Only once negotiated; queued behind any negotiation in flight.
     */
    restartIce(): Promise<void>;
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
     * unmutes instantly; video switches every encoding off (`active = false`) and detaches the
     * track from its sender (`replaceTrack(null)`), so nothing at all uses the uplink: a disabled
     * track alone still sends black frames (Firefox: 1 fps per layer, plus padding). Unmuting
     * switches back on the encodings dynacast wants. Neither renegotiates.
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
     * encoding, which saves this device's CPU and uplink. A muted video stays off; unmuting it
     * switches on these.
     * @param {string} msid the server's id of the track (`publisher_layers.track_id`): the track id
     *   of its m-line's `a=msid`
     * @param {string[]} activeRids
     * @returns {Promise<boolean>} whether the track is sent on this connection
     */
    applyLayers(msid: string, activeRids: string[]): Promise<boolean>;
    /**
     * The server's id of a track sent on this connection (the msid track id of its m-line), once
     * offered.
     * @param {string} trackId `LocalTrack.trackId`
     * @returns {string | null}
     */
    msidOf(trackId: string): string | null;
    /** @param {RTCIceCandidateInit} candidate */
    addRemoteCandidate(candidate: RTCIceCandidateInit): void;
    close(): void;
    #private;
}
/**
 * A track this client publishes. It outlives publisher connections: after a reconnect the same
 * local tracks are published again.
 */
export type LocalTrack = {
    /**
     * this client's key for the track: the first track's
     * `MediaStreamTrack.id` (it stays when `replaceTrack` swaps the media). Not the id the server
     * knows the track by: that is the msid track id of its m-line, read from the offer (see
     * `msidTrackIds`)
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
     * the connection's ICE is
     * in trouble (see `watchIce`)
     */
    onFailed: (trouble: import("./ice.js").IceTrouble) => void;
    /**
     * TURN servers for the connection
     */
    iceServers?: (() => RTCIceServer[]) | undefined;
};
export type TrackSource = import("./protocol.js").TrackSource;
/**
 * One sent track on this connection.
 */
export type Sender = {
    local: LocalTrack;
    transceiver: RTCRtpTransceiver;
    /**
     * the track id of its m-line's `a=msid` in our last offer: the id
     * the server knows it by (null until the first offer)
     */
    msid: string | null;
    /**
     * dynacast: the RIDs the server last said are needed (null:
     * all of them)
     */
    layers: string[] | null;
};
