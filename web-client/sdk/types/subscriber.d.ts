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
    /** @param {SubscriberIo} io */
    constructor(io: SubscriberIo);
    /** Created with the first offer. @type {RTCPeerConnection | null} */
    pc: RTCPeerConnection | null;
    /** @param {string} sdp a `subscribe_offer` */
    offer(sdp: string): void;
    /** @param {RTCIceCandidateInit} candidate */
    addRemoteCandidate(candidate: RTCIceCandidateInit): void;
    close(): void;
    /**
     * Ask the server for an ICE restart of this connection (`restart_ice`): its next offer has
     * new ICE credentials, and our answer restarts ICE here too.
     */
    restartIce(): Promise<any>;
    #private;
}
export type SubscriberIo = {
    request: (type: string, fields: object) => Promise<any>;
    sendCandidate: (candidate: RTCIceCandidate) => void;
    /**
     *   a track arrived; its msid stream id is the server's track sid
     */
    onTrack: (streamId: string, media: {
        mediaTrack: MediaStreamTrack;
        stream: MediaStream;
    }) => void;
    onError: (err: unknown) => void;
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
