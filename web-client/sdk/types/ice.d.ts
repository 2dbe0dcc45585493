/**
 * @typedef {'disconnected' | 'lost'} IceTrouble `disconnected`: ICE just stopped hearing back
 *   (worth checking whether the socket still works); `lost`: the path is gone (see above)
 */
/**
 * Calls `onTrouble('lost')` each time `pc` loses its path (again after it recovered in
 * between), and `onTrouble('disconnected')` as soon as ICE says disconnected.
 * @param {RTCPeerConnection} pc
 * @param {(trouble: IceTrouble) => void} onTrouble
 * @param {number} [grace] ms of `disconnected` that count as lost
 */
export function watchIce(pc: RTCPeerConnection, onTrouble: (trouble: IceTrouble) => void, grace?: number): void;
/**
 * Resolves once `pc` is connected again (ICE `connected` or `completed`), false after `timeout`
 * ms or once it is closed.
 * @param {RTCPeerConnection} pc
 * @param {number} timeout
 * @returns {Promise<boolean>}
 */
export function iceConnected(pc: RTCPeerConnection, timeout: number): Promise<boolean>;
/**
 * Restarts ICE on `pc` with `restart` (new offer/answer over the socket; if the socket is lost,
 * resuming the session restarts it) and resolves whether `pc` is connected again in time.
 * @param {RTCPeerConnection} pc
 * @param {() => Promise<unknown> | undefined} restart
 * @param {number} [timeout] ms
 */
export function restartIce(pc: RTCPeerConnection, restart: () => Promise<unknown> | undefined, timeout?: number): Promise<boolean>;
/**
 * Calls `onChange` when the device's network changes (the Network Information API's `change`,
 * where a browser has it: Chrome on Android switching Wi-Fi and cellular) or comes back
 * (`online`): the socket and the media paths may be dead before ICE can tell. Returns a
 * function that stops watching.
 * @param {() => void} onChange
 * @param {{connection?: EventTarget | null, window?: EventTarget | null}} [sources]
 */
export function watchNetwork(onChange: () => void, sources?: {
    connection?: EventTarget | null;
    window?: EventTarget | null;
}): () => void;
/** `disconnected` this long (ms) counts as lost; browsers often recover sooner by themselves. */
export const DISCONNECTED_GRACE_MS: 2000;
/** A connection whose ICE restart has not brought it back by then is given up (ms). */
export const RESTART_TIMEOUT_MS: 15000;
/** A socket that does not answer a ping this fast (ms) while ICE is in trouble is dropped. */
export const PROBE_TIMEOUT_MS: 1500;
/** @typedef {'publisher' | 'screen' | 'subscriber'} Leg */
/**
 * @typedef {object} RecoveryIo
 * @property {() => boolean} busy reconnecting or closing: the session is being dealt with
 * @property {() => void} probe check the socket still answers (it is dropped if not)
 * @property {(leg: Leg) => RTCPeerConnection | null | undefined} pc
 * @property {(leg: Leg) => Promise<unknown> | undefined} restart restart ICE on `leg`
 * @property {(leg: Leg) => void} rebuild the last resort: the whole session anew
 */
/**
 * What the SDK does when a connection's ICE is in trouble. `disconnected`: the socket is
 * probed at once (a network change kills it too; resuming the session then restarts every
 * connection). `lost` while the socket works: ICE restarts on that connection; only if that
 * does not bring it back within `RESTART_TIMEOUT_MS` is the session rebuilt.
 */
export class IceRecovery {
    /** @param {RecoveryIo} io @param {number} [timeout] ms a restart has to bring a connection back */
    constructor(io: RecoveryIo, timeout?: number);
    /** @param {Leg} leg @param {IceTrouble} trouble */
    trouble(leg: Leg, trouble: IceTrouble): void;
    #private;
}
/**
 * `disconnected`: ICE just stopped hearing back
 *   (worth checking whether the socket still works); `lost`: the path is gone (see above)
 */
export type IceTrouble = "disconnected" | "lost";
export type Leg = "publisher" | "screen" | "subscriber";
export type RecoveryIo = {
    /**
     * reconnecting or closing: the session is being dealt with
     */
    busy: () => boolean;
    /**
     * check the socket still answers (it is dropped if not)
     */
    probe: () => void;
    pc: (leg: Leg) => RTCPeerConnection | null | undefined;
    /**
     * restart ICE on `leg`
     */
    restart: (leg: Leg) => Promise<unknown> | undefined;
    /**
     * the last resort: the whole session anew
     */
    rebuild: (leg: Leg) => void;
};
