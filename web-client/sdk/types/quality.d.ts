/**
 * @param {QualityMetrics} m
 * @returns {QualityLevel}
 */
export function qualityLevel(m: QualityMetrics): QualityLevel;
/**
 * Received media of some tracks over one interval.
 * @param {StatsLike[]} prev the previous sample (`[]` for the first)
 * @param {StatsLike[]} cur
 * @param {{tracks: Set<string>, cameraTracks?: Set<string>}} which receiver `MediaStreamTrack`
 *   ids to count (`trackIdentifier`), and those whose frame rate counts
 * @returns {{packets: number, packetLoss: number | null, jitter: number | null, framesPerSecond: number | null}}
 */
export function inboundMetrics(prev: StatsLike[], cur: StatsLike[], which: {
    tracks: Set<string>;
    cameraTracks?: Set<string>;
}): {
    packets: number;
    packetLoss: number | null;
    jitter: number | null;
    framesPerSecond: number | null;
};
/**
 * Sent media over one interval, with the server's receiver reports about it.
 * @param {StatsLike[]} prev
 * @param {StatsLike[]} cur
 * @param {{cameraTracks?: Set<string>}} [which] sender `MediaStreamTrack` ids whose frame rate counts
 * @returns {{packets: number, packetLoss: number | null, jitter: number | null, rtt: number | null, framesPerSecond: number | null}}
 */
export function outboundMetrics(prev: StatsLike[], cur: StatsLike[], which?: {
    cameraTracks?: Set<string>;
}): {
    packets: number;
    packetLoss: number | null;
    jitter: number | null;
    rtt: number | null;
    framesPerSecond: number | null;
};
/**
 * The round-trip time (ms) of the candidate pair ICE selected, from its connectivity checks.
 * @param {StatsLike[]} cur
 * @returns {number | null}
 */
export function pairRtt(cur: StatsLike[]): number | null;
/**
 * How one connection's media travels, from its selected candidate pair's local candidate:
 * through a TURN relay, over TCP, or straight over UDP; `null` before a pair is selected.
 * @param {StatsLike[]} cur one connection's stats
 * @returns {ConnectionPath | null}
 */
export function selectedPath(cur: StatsLike[]): ConnectionPath | null;
/**
 * Fold the metrics of several legs (e.g. this client's upload and download) into one: the worst
 * of each, stalled if any is.
 * @param {QualityMetrics[]} parts
 * @returns {QualityMetrics}
 */
export function combineMetrics(parts: QualityMetrics[]): QualityMetrics;
/**
 * What one sample needs to know besides the stats.
 * @typedef {object} QualityInput
 * @property {{pub: StatsLike[], sub: StatsLike[]}} prev the previous sample's stats (empty at first)
 * @property {{pub: StatsLike[], sub: StatsLike[]}} cur
 * @property {string} selfSid
 * @property {boolean} signalingUp whether the WebSocket is open
 * @property {RTCPeerConnectionState | null} publisherState null: not publishing
 * @property {RTCPeerConnectionState | null} subscriberState null: nothing received yet
 * @property {{kind: string, camera: boolean, muted: boolean, trackId: string}[]} sent this
 *   client's tracks (`trackId`: the sender's current `MediaStreamTrack.id`)
 * @property {{sid: string, tracks: {kind: string, camera: boolean, muted: boolean, paused: boolean, trackId: string}[]}[]} received
 *   per participant, the tracks this client receives of them (`trackId`: the receiver's track id)
 */
/**
 * Gathers a sample's input: both connections' stats, and what each carries.
 * @param {object} c
 * @param {{sid: string}} c.you this client's participant
 * @param {() => boolean} c.signalingUp
 * @param {() => boolean} c.stillYou false once the client left or rejoined meanwhile
 * @param {RTCPeerConnection | null} c.pub
 * @param {RTCPeerConnection | null} c.sub
 * @param {{source: string, muted: boolean, track: MediaStreamTrack}[]} c.sent tracks on `pub`
 * @param {{sid: string, tracks: {sid: string, kind: string, source: string, muted?: boolean}[]}[]} c.participants
 * @param {(sid: string) => {mediaTrack: MediaStreamTrack} | null} c.media received media by track sid
 * @param {(sid: string) => boolean} c.paused
 * @returns {Promise<Omit<QualityInput, 'prev'> | null>}
 */
export function sampleInput(c: {
    you: {
        sid: string;
    };
    signalingUp: () => boolean;
    stillYou: () => boolean;
    pub: RTCPeerConnection | null;
    sub: RTCPeerConnection | null;
    sent: {
        source: string;
        muted: boolean;
        track: MediaStreamTrack;
    }[];
    participants: {
        sid: string;
        tracks: {
            sid: string;
            kind: string;
            source: string;
            muted?: boolean;
        }[];
    }[];
    media: (sid: string) => {
        mediaTrack: MediaStreamTrack;
    } | null;
    paused: (sid: string) => boolean;
}): Promise<Omit<QualityInput, "prev"> | null>;
/**
 * One sample's metrics: for this client (what it sends, judged by the server's receiver
 * reports) and for each participant (what arrives of them). Connections still being set up
 * are left out rather than reported as lost.
 * @param {QualityInput} input
 * @returns {{sid: string, local: boolean, metrics: QualityMetrics, path?: ConnectionPath | null}[]}
 */
export function assessQuality(input: QualityInput): {
    sid: string;
    local: boolean;
    metrics: QualityMetrics;
    path?: ConnectionPath | null;
}[];
/** @typedef {'excellent' | 'good' | 'poor' | 'lost'} QualityLevel */
/**
 * @typedef {'udp' | 'tcp' | 'relay'} ConnectionPath how media reaches the server: straight over
 *   UDP or TCP, or through a TURN relay
 */
/**
 * @typedef {object} QualityMetrics
 * @property {number | null} packetLoss fraction (0..1) of packets lost over the interval
 * @property {number | null} rtt round-trip time to the server in ms
 * @property {number | null} jitter ms, the worst stream's
 * @property {number | null} framesPerSecond of the camera video, when it flows
 * @property {boolean} stalled media was expected and none moved, or the connection is down
 */
/** @typedef {{id: string, type: string, [field: string]: any}} StatsLike */
/** The worst value still allowed for each level. A missing metric does not count against it. */
export const QUALITY_LIMITS: Readonly<{
    excellent: Readonly<{
        packetLoss: 0.02;
        rtt: 150;
        jitter: 30;
        framesPerSecond: 15;
    }>;
    good: Readonly<{
        packetLoss: 0.08;
        rtt: 400;
        jitter: 80;
        framesPerSecond: 8;
    }>;
}>;
/** @typedef {import('./events.js').ConnectionQualityEvent} ConnectionQualityEvent */
/**
 * Samples every `interval` ms and reports levels that changed. The client supplies what a
 * sample needs (`snapshot`, null while there is nothing to judge) and gets events back.
 */
export class QualityMonitor {
    /**
     * @param {() => Promise<Omit<QualityInput, 'prev'> | null>} snapshot
     * @param {(e: ConnectionQualityEvent) => void} emit
     */
    constructor(snapshot: () => Promise<Omit<QualityInput, "prev"> | null>, emit: (e: ConnectionQualityEvent) => void);
    /** (Re)start sampling with a clean slate: a new join, new connections. @param {number} interval */
    start(interval: number): void;
    stop(): void;
    sample(): Promise<void>;
    /** @param {string} sid */
    get(sid: string): {
        level: QualityLevel;
        metrics: QualityMetrics;
        path?: ConnectionPath | null;
    } | null;
    /** @param {string} sid */
    forget(sid: string): void;
    /**
     * Records a measurement; emits when the level changes, or (this client's own) the path.
     * @param {string} sid @param {boolean} local @param {QualityMetrics} metrics
     * @param {ConnectionPath | null} [path] this client's own connection only
     */
    set(sid: string, local: boolean, metrics: QualityMetrics, path?: ConnectionPath | null): void;
    #private;
}
/**
 * What one sample needs to know besides the stats.
 */
export type QualityInput = {
    /**
     * the previous sample's stats (empty at first)
     */
    prev: {
        pub: StatsLike[];
        sub: StatsLike[];
    };
    cur: {
        pub: StatsLike[];
        sub: StatsLike[];
    };
    selfSid: string;
    /**
     * whether the WebSocket is open
     */
    signalingUp: boolean;
    /**
     * null: not publishing
     */
    publisherState: RTCPeerConnectionState | null;
    /**
     * null: nothing received yet
     */
    subscriberState: RTCPeerConnectionState | null;
    /**
     * this
     * client's tracks (`trackId`: the sender's current `MediaStreamTrack.id`)
     */
    sent: {
        kind: string;
        camera: boolean;
        muted: boolean;
        trackId: string;
    }[];
    /**
     *   per participant, the tracks this client receives of them (`trackId`: the receiver's track id)
     */
    received: {
        sid: string;
        tracks: {
            kind: string;
            camera: boolean;
            muted: boolean;
            paused: boolean;
            trackId: string;
        }[];
    }[];
};
export type QualityLevel = "excellent" | "good" | "poor" | "lost";
/**
 * how media reaches the server: straight over
 *   UDP or TCP, or through a TURN relay
 */
export type ConnectionPath = "udp" | "tcp" | "relay";
export type QualityMetrics = {
    /**
     * fraction (0..1) of packets lost over the interval
     */
    packetLoss: number | null;
    /**
     * round-trip time to the server in ms
     */
    rtt: number | null;
    /**
     * ms, the worst stream's
     */
    jitter: number | null;
    /**
     * of the camera video, when it flows
     */
    framesPerSecond: number | null;
    /**
     * media was expected and none moved, or the connection is down
     */
    stalled: boolean;
};
export type StatsLike = {
    id: string;
    type: string;
    [field: string]: any;
};
export type ConnectionQualityEvent = import("./events.js").ConnectionQualityEvent;
