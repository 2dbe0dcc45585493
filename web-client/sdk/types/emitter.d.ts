/**
 * @template {Record<string, any>} Events name → payload type
 */
export class Emitter<Events extends Record<string, any>> {
    /**
     * @param {(name: string, err: unknown) => void} [onListenerError] where a throwing listener's
     *   error goes; by default the console
     */
    constructor(onListenerError?: (name: string, err: unknown) => void);
    /**
     * @template {keyof Events} K
     * @param {K} name
     * @param {(payload: Events[K]) => void} fn
     * @returns {() => void} removes the listener
     */
    on<K extends keyof Events>(name: K, fn: (payload: Events[K]) => void): () => void;
    /**
     * Like `on`, for the next event only.
     * @template {keyof Events} K
     * @param {K} name
     * @param {(payload: Events[K]) => void} fn
     * @returns {() => void} removes the listener
     */
    once<K extends keyof Events>(name: K, fn: (payload: Events[K]) => void): () => void;
    /**
     * @template {keyof Events} K
     * @param {K} name
     * @param {(payload: Events[K]) => void} fn
     */
    off<K extends keyof Events>(name: K, fn: (payload: Events[K]) => void): void;
    /** @param {keyof Events} name */
    listenerCount(name: keyof Events): number;
    /**
     * Call every listener of `name` in the order they were added. A throwing listener does not
     * stop the others: protocol handling runs inside emits and must not break.
     * @template {keyof Events} K
     * @param {K} name
     * @param {Events[K]} payload
     */
    emit<K extends keyof Events>(name: K, payload: Events[K]): void;
    removeAllListeners(): void;
    #private;
}
