// When a peer connection has lost its path: ICE `failed`, or `disconnected` for longer than a
// browser's own recovery takes (a candidate pair that stopped answering; its network changed).
// The SDK then restarts ICE on that connection (parley.js), and rebuilds the session only if
// that does not bring it back.

/** `disconnected` this long (ms) counts as lost; browsers often recover sooner by themselves. */
export const DISCONNECTED_GRACE_MS = 2000;

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
export function watchIce(pc, onTrouble, grace = DISCONNECTED_GRACE_MS) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    onTrouble('lost');
  };
  pc.addEventListener('iceconnectionstatechange', () => {
    clearTimeout(timer);
    switch (pc.iceConnectionState) {
      case 'failed':
        report();
        break;
      case 'disconnected':
        if (!reported) onTrouble('disconnected');
        timer = setTimeout(() => {
          if (pc.iceConnectionState === 'disconnected') report();
        }, grace);
        break;
      case 'connected':
      case 'completed':
        reported = false;
        break;
      default:
        break;
    }
  });
}

/**
 * Resolves once `pc` is connected again (ICE `connected` or `completed`), false after `timeout`
 * ms or once it is closed.
 * @param {RTCPeerConnection} pc
 * @param {number} timeout
 * @returns {Promise<boolean>}
 */
export function iceConnected(pc, timeout) {
  const up = () => pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed';
  if (up()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (/** @type {boolean} */ ok) => {
      clearTimeout(timer);
      pc.removeEventListener('iceconnectionstatechange', check);
      resolve(ok);
    };
    const check = () => {
      if (up()) done(true);
      else if (pc.iceConnectionState === 'closed') done(false);
    };
    const timer = setTimeout(() => done(false), timeout);
    pc.addEventListener('iceconnectionstatechange', check);
  });
}

/** A connection whose ICE restart has not brought it back by then is given up (ms). */
export const RESTART_TIMEOUT_MS = 15_000;

/**
 * Restarts ICE on `pc` with `restart` (new offer/answer over the socket; if the socket is lost,
 * resuming the session restarts it) and resolves whether `pc` is connected again in time.
 * @param {RTCPeerConnection} pc
 * @param {() => Promise<unknown> | undefined} restart
 * @param {number} [timeout] ms
 */
export function restartIce(pc, restart, timeout = RESTART_TIMEOUT_MS) {
  Promise.resolve(restart()).catch(() => {});
  return iceConnected(pc, timeout);
}

/** A socket that does not answer a ping this fast (ms) while ICE is in trouble is dropped. */
export const PROBE_TIMEOUT_MS = 1500;

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
  /** @type {Set<Leg>} */ #restarting = new Set();
  #io;
  #timeout;

  /** @param {RecoveryIo} io @param {number} [timeout] ms a restart has to bring a connection back */
  constructor(io, timeout = RESTART_TIMEOUT_MS) {
    this.#io = io;
    this.#timeout = timeout;
  }

  /** @param {Leg} leg @param {IceTrouble} trouble */
  trouble(leg, trouble) {
    if (this.#io.busy()) return;
    if (trouble === 'disconnected') return this.#io.probe();
    const pc = this.#io.pc(leg);
    if (!pc || this.#restarting.has(leg)) return;
    this.#restarting.add(leg);
    restartIce(pc, () => this.#io.restart(leg), this.#timeout).then((ok) => {
      this.#restarting.delete(leg);
      if (ok || this.#io.busy() || pc.connectionState === 'closed') return;
      this.#io.rebuild(leg);
    });
  }
}

/**
 * Calls `onChange` when the device's network changes (the Network Information API's `change`,
 * where a browser has it: Chrome on Android switching Wi-Fi and cellular) or comes back
 * (`online`): the socket and the media paths may be dead before ICE can tell. Returns a
 * function that stops watching.
 * @param {() => void} onChange
 * @param {{connection?: EventTarget | null, window?: EventTarget | null}} [sources]
 */
export function watchNetwork(onChange, sources = {
  connection: /** @type {any} */ (globalThis.navigator)?.connection,
  window: /** @type {any} */ (globalThis).window,
}) {
  /** @type {[EventTarget, string][]} */
  const targets = [];
  if (sources.connection?.addEventListener) targets.push([sources.connection, 'change']);
  if (sources.window?.addEventListener) targets.push([sources.window, 'online']);
  for (const [target, name] of targets) target.addEventListener(name, onChange);
  return () => {
    for (const [target, name] of targets) target.removeEventListener(name, onChange);
  };
}
