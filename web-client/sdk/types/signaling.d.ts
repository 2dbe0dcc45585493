/**
 * @typedef {object} SignalingHandlers
 * @property {(message: any) => void} onEvent a server frame that is not a reply
 * @property {(code: number, reason: string) => void} onClose once, whether the server closed,
 *   the network dropped, or `close()`/`drop()` was called
 * @property {(err: unknown) => void} onError frames that cannot be understood
 */
export class Signaling {
    /**
     * Open the socket; resolves once it is open.
     * @param {URL} url
     * @param {SignalingHandlers} handlers
     * @param {{keepaliveInterval: number, requestTimeout: number}} timing ms between pings (0 =
     *   none); ms a request may wait for its reply
     * @returns {Promise<Signaling>}
     */
    static open(url: URL, handlers: SignalingHandlers, timing: {
        keepaliveInterval: number;
        requestTimeout: number;
    }): Promise<Signaling>;
    /**
     * @param {WebSocket} ws
     * @param {SignalingHandlers} handlers
     * @param {{keepaliveInterval: number, requestTimeout: number}} timing
     */
    constructor(ws: WebSocket, handlers: SignalingHandlers, { keepaliveInterval, requestTimeout }: {
        keepaliveInterval: number;
        requestTimeout: number;
    });
    get open(): boolean;
    /**
     * Send a request; resolves with its reply, rejects with a `ParleyError` (the server's `error`
     * reply, or `not_connected` / `disconnected` / `timeout`). The timeout guards against replies
     * that never come, such as a `rate_limited` error sent without `reply_to`.
     * @param {string} type @param {object} fields @returns {Promise<any>}
     */
    request(type: string, fields: object): Promise<any>;
    /** Close politely; `onClose` follows when the close handshake is done. @param {number} code @param {string} reason */
    close(code: number, reason: string): void;
    /**
     * Give up on the socket now rather than waiting for a close handshake that may never come
     * (the network is gone); `onClose` runs at once with code 1006.
     * @param {string} reason
     */
    drop(reason: string): void;
    /**
     * Pings now; drops the socket if no reply comes within `timeout` ms (its network may be gone:
     * the caller saw ICE stop hearing back). One probe at a time.
     * @param {number} timeout
     */
    probe(timeout: number): void;
    #private;
}
export type SignalingHandlers = {
    /**
     * a server frame that is not a reply
     */
    onEvent: (message: any) => void;
    /**
     * once, whether the server closed,
     * the network dropped, or `close()`/`drop()` was called
     */
    onClose: (code: number, reason: string) => void;
    /**
     * frames that cannot be understood
     */
    onError: (err: unknown) => void;
};
