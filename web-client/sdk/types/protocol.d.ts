/**
 * One request frame. `type` and `id` win over same-named fields, and undefined fields are left
 * out (JSON drops them), so optional fields need no special casing by callers.
 * @param {string} type
 * @param {string} id unique per connection
 * @param {object} [fields]
 * @returns {string}
 */
export function encodeRequest(type: string, id: string, fields?: object): string;
/**
 * @typedef {{kind: 'reply', replyTo: string, message: any, error: ParleyError | null}
 *   | {kind: 'event', message: any}} Decoded
 */
/**
 * Classify one server frame: a reply to one of our requests (an `error` reply carries a
 * `ParleyError`), or an event. Throws `ParleyError` `bad_json` for anything that is not a JSON
 * object with a string `type`.
 * @param {unknown} data
 * @returns {Decoded}
 */
export function decodeMessage(data: unknown): Decoded;
/**
 * The fields of `update_subscription` for one track.
 * @param {string} trackSid
 * @param {SubscriptionWant} want
 */
export function subscriptionFields(trackSid: string, want: SubscriptionWant): {
    track: string;
    paused: boolean | undefined;
    max_layer: number | undefined;
    width: number | undefined;
    height: number | undefined;
};
/**
 * The WebSocket URL for a server origin (`https://host` → `wss://host/ws`); WebSocket URLs are
 * used as given.
 * @param {string | URL} url
 * @param {string} [base] resolves relative URLs (a page's `location.href`)
 * @returns {URL}
 */
export function websocketUrl(url: string | URL, base?: string): URL;
/**
 * A REST call to the server behind WebSocket URL `ws` with a bearer token.
 * @param {URL} ws @param {string} token @param {string} path e.g. `/api/attachments/…`
 * @param {RequestInit} init
 */
export function bearerFetch(ws: URL, token: string, path: string, init: RequestInit): Promise<Response>;
/**
 * `POST /api/guest-token` (served on loopback or with `--guest-tokens`).
 * @param {string | URL} baseUrl
 * @param {string} name
 * @param {string} room
 * @returns {Promise<{token: string, identity: string, room: string}>}
 */
export function fetchGuestToken(baseUrl: string | URL, name: string, room: string): Promise<{
    token: string;
    identity: string;
    room: string;
}>;
export const PROTOCOL_VERSION: 1;
/** @typedef {'audio' | 'video'} TrackKind */
/** @typedef {'camera' | 'microphone' | 'screen' | 'screen_audio' | 'unknown'} TrackSource */
/** @typedef {'publisher' | 'subscriber' | 'screen'} PeerTarget */
/**
 * @typedef {object} TrackInfo
 * @property {string} sid server track id; also the msid stream id in subscriber offers
 * @property {string} participant sid of the publishing participant
 * @property {TrackKind} kind
 * @property {TrackSource} source
 * @property {string} mime_type
 * @property {boolean} [muted] the publisher muted it (servers that support `set_track_muted`)
 */
/**
 * @typedef {object} ParticipantInfo
 * @property {string} sid unique per join
 * @property {string} identity
 * @property {string} name
 * @property {TrackInfo[]} tracks
 */
/**
 * A TURN server with short-lived credentials, from `joined.ice_servers`; an `RTCIceServer` as is.
 * @typedef {object} IceServer
 * @property {string[]} urls
 * @property {string} username
 * @property {string} credential
 */
/**
 * What `update_subscription` asks for; see `ParleyClient.setSubscription`.
 * @typedef {object} SubscriptionWant
 * @property {boolean} [paused]
 * @property {number} [maxLayer] 0 = smallest simulcast layer
 * @property {number} [width] rendered width in device pixels
 * @property {number} [height] rendered height in device pixels
 */
/** An `error` reply from the server, or a local failure with a code of our own. */
export class ParleyError extends Error {
    /** @param {string} code @param {string} message */
    constructor(code: string, message: string);
    /** The server's error code (docs/protocol.md) or a local one such as `not_connected`. */
    code: string;
}
/**
 * Error codes after which retrying the same request cannot succeed; reconnecting gives up on
 * them unless a fresh token can be fetched.
 */
export const TOKEN_ERRORS: readonly string[];
export const FATAL_JOIN_ERRORS: readonly string[];
export type Decoded = {
    kind: "reply";
    replyTo: string;
    message: any;
    error: ParleyError | null;
} | {
    kind: "event";
    message: any;
};
export type TrackKind = "audio" | "video";
export type TrackSource = "camera" | "microphone" | "screen" | "screen_audio" | "unknown";
export type PeerTarget = "publisher" | "subscriber" | "screen";
export type TrackInfo = {
    /**
     * server track id; also the msid stream id in subscriber offers
     */
    sid: string;
    /**
     * sid of the publishing participant
     */
    participant: string;
    kind: TrackKind;
    source: TrackSource;
    mime_type: string;
    /**
     * the publisher muted it (servers that support `set_track_muted`)
     */
    muted?: boolean | undefined;
};
export type ParticipantInfo = {
    /**
     * unique per join
     */
    sid: string;
    identity: string;
    name: string;
    tracks: TrackInfo[];
};
/**
 * A TURN server with short-lived credentials, from `joined.ice_servers`; an `RTCIceServer` as is.
 */
export type IceServer = {
    urls: string[];
    username: string;
    credential: string;
};
/**
 * What `update_subscription` asks for; see `ParleyClient.setSubscription`.
 */
export type SubscriptionWant = {
    paused?: boolean | undefined;
    /**
     * 0 = smallest simulcast layer
     */
    maxLayer?: number | undefined;
    /**
     * rendered width in device pixels
     */
    width?: number | undefined;
    /**
     * rendered height in device pixels
     */
    height?: number | undefined;
};
