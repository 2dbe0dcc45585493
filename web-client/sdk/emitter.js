// A small typed event emitter. Pure JS, so node can test it.

/**
 * @template {Record<string, any>} Events name → payload type
 */
export class Emitter {
  /** @type {Map<keyof Events, Set<(payload: any) => void>>} */
  #listeners = new Map();
  /** @type {(name: string, err: unknown) => void} */
  #onListenerError;

  /**
   * @param {(name: string, err: unknown) => void} [onListenerError] where a throwing listener's
   *   error goes; by default the console
   */
  constructor(onListenerError) {
    this.#onListenerError = onListenerError ?? ((name, err) => console.error(`parley: ${name} listener failed`, err));
  }

  /**
   * @template {keyof Events} K
   * @param {K} name
   * @param {(payload: Events[K]) => void} fn
   * @returns {() => void} removes the listener
   */
  on(name, fn) {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /**
   * Like `on`, for the next event only.
   * @template {keyof Events} K
   * @param {K} name
   * @param {(payload: Events[K]) => void} fn
   * @returns {() => void} removes the listener
   */
  once(name, fn) {
    /** @param {Events[K]} payload */
    const wrapper = (payload) => {
      off();
      fn(payload);
    };
    const off = this.on(name, wrapper);
    return off;
  }

  /**
   * @template {keyof Events} K
   * @param {K} name
   * @param {(payload: Events[K]) => void} fn
   */
  off(name, fn) {
    this.#listeners.get(name)?.delete(fn);
  }

  /** @param {keyof Events} name */
  listenerCount(name) {
    return this.#listeners.get(name)?.size ?? 0;
  }

  /**
   * Call every listener of `name` in the order they were added. A throwing listener does not
   * stop the others: protocol handling runs inside emits and must not break.
   * @template {keyof Events} K
   * @param {K} name
   * @param {Events[K]} payload
   */
  emit(name, payload) {
    // A copy, so listeners may add or remove listeners while we iterate.
    for (const fn of [...(this.#listeners.get(name) ?? [])]) {
      try {
        fn(payload);
      } catch (err) {
        this.#onListenerError(String(name), err);
      }
    }
  }

  removeAllListeners() {
    this.#listeners.clear();
  }
}
