/**
 * @typedef {object} SubscriberIo
 * @property {(type: string, fields: object) => Promise<any>} request
 * @property {(candidate: RTCIceCandidate) => void} sendCandidate
 * @property {(streamId: string, media: {mediaTrack: MediaStreamTrack, stream: MediaStream}) => void} onTrack
 *   a track arrived; its msid stream id is the server's track sid
 * @property {(err: unknown) => void} onError
 * @property {() => void} onFailed ICE/DTLS gave up on the connection
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
     * ICE/DTLS gave up on the connection
     */
    onFailed: () => void;
    /**
     * TURN servers for the connection
     */
    iceServers?: (() => RTCIceServer[]) | undefined;
};
