export type ParticipantInfo = import("./protocol.js").ParticipantInfo;
export type TrackInfo = import("./protocol.js").TrackInfo;
export type QualityLevel = import("./quality.js").QualityLevel;
export type QualityMetrics = import("./quality.js").QualityMetrics;
export type BackoffOptions = import("./backoff.js").BackoffOptions;
export type ChatEvents = import("./chat.js").ChatEvents;
export type InvitationEvents = import("./calls.js").CallEvents;
export type TrackEvent = {
    participant: ParticipantInfo;
    track: TrackInfo;
    mediaTrack: MediaStreamTrack;
    stream: MediaStream;
};
export type TrackMutedEvent = {
    /**
     * the publisher (`client.you` for this client's tracks)
     */
    participant: ParticipantInfo;
    track: TrackInfo;
    muted: boolean;
    /**
     * whether it is one of this client's tracks
     */
    local: boolean;
};
export type ConnectionQualityEvent = {
    /**
     * sid; this client's own sid when `local`
     */
    participant: string;
    /**
     * this client's connection to the server (what it sends), rather than
     * what it receives of another participant
     */
    local: boolean;
    level: QualityLevel;
    metrics: QualityMetrics;
    /**
     * `local` only: how this client's
     * media reaches the server (its selected ICE candidate pair): `udp`, `tcp`, or `relay` (TURN)
     */
    path?: import("./quality.js").ConnectionPath | null | undefined;
};
/**
 * Every event of `ParleyClient.on`: the call's below, chat's (`ChatEvents`: `message`,
 * `messageUpdated`, `typing`, `receipt`, `member`, `presence`) and invitations'
 * (`InvitationEvents`: `callRinging`, `callUpdate`, `callAnsweredElsewhere`).
 */
export type ParleyEvents = CallEvents & ChatEvents & InvitationEvents;
export type CallEvents = {
    /**
     * also for everyone already in the room on `join`
     */
    participantJoined: ParticipantInfo;
    participantLeft: ParticipantInfo;
    /**
     * to moderators: someone watches through WHEP (hidden
     * from everyone else); also for viewers already there on `join`
     */
    viewerJoined: ParticipantInfo;
    /**
     * to moderators: a viewer stopped watching
     */
    viewerLeft: ParticipantInfo;
    trackSubscribed: TrackEvent;
    trackUnsubscribed: TrackEvent;
    trackMuted: TrackMutedEvent;
    /**
     * loudest first; `[]` when nobody speaks
     */
    activeSpeakers: {
        sid: string;
        level: number;
    }[];
    /**
     * when a level changes
     */
    connectionQuality: ConnectionQualityEvent;
    /**
     * the connection
     * dropped; attempt `attempt` starts in `delay` ms
     */
    reconnecting: {
        attempt: number;
        delay: number;
        reason: string;
    };
    /**
     * back in the
     * room; `downtime` in ms. `resumed`: the server kept the session (same participant, tracks
     * and connections, whose ICE restarted); otherwise it was joined and published again
     */
    reconnected: {
        attempts: number;
        downtime: number;
        resumed: boolean;
    };
    /**
     * for good: by `disconnect()`, or
     * reconnecting gave up
     */
    disconnected: {
        code: number;
        reason: string;
    };
    error: Error & {
        code?: string;
    };
};
export type TokenSource = string | (() => string | Promise<string>);
export type ClientOptions = {
    /**
     * reconnect after the connection drops (default true)
     */
    reconnect?: boolean | undefined;
    /**
     * delays between reconnect attempts
     */
    backoff?: import("./backoff.js").BackoffOptions | undefined;
    /**
     * ms between pings; a ping unanswered this long counts as
     * a dropped connection (default 4000; 0 = off)
     */
    keepaliveInterval?: number | undefined;
    /**
     * ms between connection-quality samples (default 2000)
     */
    qualityInterval?: number | undefined;
    /**
     * ms a request waits for its reply before rejecting with
     * code `timeout` (default 20 000)
     */
    requestTimeout?: number | undefined;
};
