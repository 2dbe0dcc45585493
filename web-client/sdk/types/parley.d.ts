export { Emitter } from "./emitter.js";
export { Calls } from "./calls.js";
/** @typedef {import('./protocol.js').TrackKind} TrackKind */
/** @typedef {import('./protocol.js').TrackSource} TrackSource */
/** @typedef {import('./protocol.js').PeerTarget} PeerTarget */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').SubscriptionWant} SubscriptionWant */
/** @typedef {import('./publisher.js').LocalTrack} LocalTrack */
/** @typedef {import('./backoff.js').BackoffOptions} BackoffOptions */
/** @typedef {import('./quality.js').QualityLevel} QualityLevel */
/** @typedef {import('./quality.js').QualityMetrics} QualityMetrics */
/** @typedef {import('./quality.js').StatsLike} StatsLike */
/** @typedef {import('./chat.js').ChatMessage} ChatMessage */
/** @typedef {import('./chat.js').ConversationInfo} ConversationInfo */
/** @typedef {import('./chat.js').AttachmentInfo} AttachmentInfo */
/** @typedef {import('./chat.js').PresenceInfo} PresenceInfo */
/** @typedef {import('./calls.js').InvitationInfo} InvitationInfo */
/** @typedef {import('./calls.js').CallTicket} CallTicket */
/** @typedef {import('./events.js').TrackEvent} TrackEvent */
/** @typedef {import('./events.js').TrackMutedEvent} TrackMutedEvent */
/** @typedef {import('./events.js').ConnectionQualityEvent} ConnectionQualityEvent */
/** @typedef {import('./events.js').ParleyEvents} ParleyEvents */
/** @typedef {import('./events.js').TokenSource} TokenSource */
/** @typedef {import('./events.js').ClientOptions} ClientOptions */
export class ParleyClient {
    /**
     * Fetch a guest token from the server's `/api/guest-token` (loopback or `--guest-tokens`).
     * @param {string | URL} baseUrl e.g. `location.origin`
     * @param {string} name
     * @param {string} room
     * @returns {Promise<{token: string, identity: string, room: string}>}
     */
    static guestToken(baseUrl: string | URL, name: string, room: string): Promise<{
        token: string;
        identity: string;
        room: string;
    }>;
    /** @param {ClientOptions} [options] */
    constructor(options?: ClientOptions);
    /**
     * Chat on this connection (tokens with the `chat` grant): conversations, messages, receipts,
     * typing, presence, attachments. Its events come through `on` (`message`, `typing`, ...).
     * @type {import('./chat.js').Chat}
     */
    chat: import("./chat.js").Chat;
    /**
     * Call invitations: `invite(conversation, media)`, `accept`, `decline`, `cancel`; events
     * `callRinging`, `callUpdate`, `callAnsweredElsewhere`. Join with `join(ticket.room, ticket)`.
     * @type {import('./calls.js').Calls}
     */
    calls: import("./calls.js").Calls;
    /** From `welcome`. @type {string | null} */ identity: string | null;
    /** @type {string | null} */ name: string | null;
    /** @type {string | null} */ room: string | null;
    /** The room's chat conversation, from `join` (tokens with the `chat` grant). @type {string | null} */
    conversation: string | null;
    /** Other participants in the room, by sid. */
    get participants(): Map<string, import("./protocol.js").ParticipantInfo>;
    /** With the `moderate` grant: the room's hidden WHEP viewers, by sid (removable by sid). */
    get viewers(): Map<string, import("./protocol.js").ParticipantInfo>;
    /** This session as the server knows it, after `join`. */
    get you(): import("./protocol.js").ParticipantInfo | null;
    get publisherPc(): RTCPeerConnection | null;
    /** The screen share's connection, once the screen was shared. */
    get screenPc(): RTCPeerConnection | null;
    get subscriberPc(): RTCPeerConnection | null;
    get connected(): boolean;
    /** Whether the connection dropped and the client is trying to get back. */
    get reconnecting(): boolean;
    /** What this client publishes. @returns {LocalTrack[]} */
    get localTracks(): LocalTrack[];
    /**
     * @template {keyof ParleyEvents} K
     * @param {K} name
     * @param {(e: ParleyEvents[K]) => void} fn
     * @returns {() => void} removes the listener
     */
    on<K extends keyof ParleyEvents>(name: K, fn: (e: ParleyEvents[K]) => void): () => void;
    /**
     * @template {keyof ParleyEvents} K
     * @param {K} name
     * @param {(e: ParleyEvents[K]) => void} fn
     * @returns {() => void} removes the listener
     */
    once<K extends keyof ParleyEvents>(name: K, fn: (e: ParleyEvents[K]) => void): () => void;
    /**
     * @template {keyof ParleyEvents} K
     * @param {K} name
     * @param {(e: ParleyEvents[K]) => void} fn
     */
    off<K extends keyof ParleyEvents>(name: K, fn: (e: ParleyEvents[K]) => void): void;
    /**
     * Open the WebSocket and authenticate.
     * @param {string | URL} url server origin (`https://host`) or full WebSocket URL (`wss://host/ws`)
     * @param {TokenSource} token a JWT, or a function that fetches a fresh one (called now and
     *   again when reconnecting finds the old token expired or refused)
     * @returns {Promise<{version: number, server: string, identity: string, name: string}>}
     */
    connect(url: string | URL, token: TokenSource): Promise<{
        version: number;
        server: string;
        identity: string;
        name: string;
    }>;
    /**
     * Join a room: the one the token names, or the one of `options.token` (a room token the server
     * minted for you, e.g. from an accepted call). Emits `participantJoined` for everyone already
     * there.
     * @param {string} room
     * @param {{token?: string}} [options]
     * @returns {Promise<{you: ParticipantInfo, participants: ParticipantInfo[], conversation: string | null}>}
     */
    join(room: string, options?: {
        token?: string;
    }): Promise<{
        you: ParticipantInfo;
        participants: ParticipantInfo[];
        conversation: string | null;
    }>;
    /**
     * Publish the stream's tracks on the publisher connection (again callable later to add more).
     * The camera is sent as three simulcast layers (see `SIMULCAST_ENCODINGS`) unless
     * `options.simulcast` is `false`.
     * @param {MediaStream} stream
     * @param {{sources?: Record<string, TrackSource>, simulcast?: boolean}} [options] `sources`:
     *   source per `MediaStreamTrack.id`; defaults to camera for video, microphone for audio
     */
    publish(stream: MediaStream, options?: {
        sources?: Record<string, TrackSource>;
        simulcast?: boolean;
    }): Promise<void>;
    /**
     * Share the screen: `getDisplayMedia`, published as one layer (no simulcast) with source
     * `screen`, on a connection of its own so the camera's is never renegotiated. Stopping it, from
     * `unpublishTrack` or the browser's own "stop sharing", unpublishes it.
     * @param {DisplayMediaStreamOptions} [constraints]
     * @param {{stream?: MediaStream}} [options] `stream`: share this instead of asking
     *   `getDisplayMedia` (a capture the app made itself, a canvas `captureStream()`); the SDK owns
     *   it from then on and stops its tracks when the share ends
     * @returns {Promise<MediaStream>}
     */
    publishScreen(constraints?: DisplayMediaStreamOptions, options?: {
        stream?: MediaStream;
    }): Promise<MediaStream>;
    /**
     * Stop publishing a track: the server is told (`unpublish`), so the others drop it at once.
     * The track itself is stopped too.
     * @param {MediaStreamTrack | TrackSource} trackOrSource
     */
    unpublishTrack(trackOrSource: MediaStreamTrack | TrackSource): Promise<void>;
    /**
     * Mute or unmute one of this client's tracks by source (`microphone`, `camera`, ...). Works
     * locally in any case (see `Publisher.setMuted`); servers that support it also tell the others
     * (`trackMuted` on their side).
     * @param {TrackSource} source
     * @param {boolean} muted
     */
    setMuted(source: TrackSource, muted: boolean): Promise<void>;
    /**
     * Moderate another participant of this room (`moderate_participant`; needs the `moderate`
     * grant): `mute_audio`, `mute_video` or `mute_all` stop forwarding their tracks (everyone gets
     * `trackMuted`), `unmute` lifts that, `remove` puts them out of the room. Rejects with a
     * `ParleyError` (e.g. code `forbidden`, `unknown_participant`).
     * @param {string} participantSid
     * @param {'mute_audio' | 'mute_video' | 'mute_all' | 'unmute' | 'remove'} action
     * @returns {Promise<{type: 'ok', reply_to: string}>}
     */
    moderateParticipant(participantSid: string, action: "mute_audio" | "mute_video" | "mute_all" | "unmute" | "remove"): Promise<{
        type: "ok";
        reply_to: string;
    }>;
    /** @param {TrackSource} source */
    isMuted(source: TrackSource): boolean;
    /**
     * Send another capture (e.g. a different camera or microphone) in place of a published track,
     * without renegotiating. The old track is not stopped.
     * @param {TrackSource} source
     * @param {MediaStreamTrack} track
     */
    replaceTrack(source: TrackSource, track: MediaStreamTrack): Promise<void>;
    /**
     * Choose what this client receives of one track (`update_subscription`): `{paused: true}` stops
     * it, `{maxLayer}` caps the simulcast layer (0 = smallest), `{width, height}` (rendered size in
     * device pixels) picks the smallest layer that covers it, `{}` asks for the best layer.
     * Rejects with a `ParleyError` (e.g. code `unknown_track`).
     * @param {string} trackSid
     * @param {SubscriptionWant} [want]
     * @returns {Promise<{type: 'ok', reply_to: string}>}
     */
    setSubscription(trackSid: string, want?: SubscriptionWant): Promise<{
        type: "ok";
        reply_to: string;
    }>;
    /**
     * Let a video element drive its track's subscription: its rendered size picks the simulcast
     * layer, and while it is hidden or off screen the track is paused. Ends by itself when the
     * track is unsubscribed.
     * @param {string} trackSid
     * @param {HTMLVideoElement} video
     * @returns {() => void} stops observing
     */
    observeVideo(trackSid: string, video: HTMLVideoElement): () => void;
    /**
     * The last connection quality measured for a participant (this client's own sid for itself).
     * @param {string} participantSid
     */
    connectionQuality(participantSid: string): {
        level: import("./quality.js").QualityLevel;
        metrics: import("./quality.js").QualityMetrics;
        path?: import("./quality.js").ConnectionPath | null;
    } | null;
    /** Leave the room; the socket stays open. */
    leave(): Promise<void>;
    /** Close both peer connections and the socket. */
    disconnect(): void;
    #private;
}
export type TrackKind = import("./protocol.js").TrackKind;
export type TrackSource = import("./protocol.js").TrackSource;
export type PeerTarget = import("./protocol.js").PeerTarget;
export type TrackInfo = import("./protocol.js").TrackInfo;
export type ParticipantInfo = import("./protocol.js").ParticipantInfo;
export type SubscriptionWant = import("./protocol.js").SubscriptionWant;
export type LocalTrack = import("./publisher.js").LocalTrack;
export type BackoffOptions = import("./backoff.js").BackoffOptions;
export type QualityLevel = import("./quality.js").QualityLevel;
export type QualityMetrics = import("./quality.js").QualityMetrics;
export type StatsLike = import("./quality.js").StatsLike;
export type ChatMessage = import("./chat.js").ChatMessage;
export type ConversationInfo = import("./chat.js").ConversationInfo;
export type AttachmentInfo = import("./chat.js").AttachmentInfo;
export type PresenceInfo = import("./chat.js").PresenceInfo;
export type InvitationInfo = import("./calls.js").InvitationInfo;
export type CallTicket = import("./calls.js").CallTicket;
export type TrackEvent = import("./events.js").TrackEvent;
export type TrackMutedEvent = import("./events.js").TrackMutedEvent;
export type ConnectionQualityEvent = import("./events.js").ConnectionQualityEvent;
export type ParleyEvents = import("./events.js").ParleyEvents;
export type TokenSource = import("./events.js").TokenSource;
export type ClientOptions = import("./events.js").ClientOptions;
export { PROTOCOL_VERSION, ParleyError } from "./protocol.js";
export { SCREEN_ENCODING, SIMULCAST_ENCODINGS } from "./publisher.js";
export { backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";
export { qualityLevel, QUALITY_LIMITS } from "./quality.js";
export { Chat, TYPING_IDLE_MS, TYPING_REFRESH_MS } from "./chat.js";
