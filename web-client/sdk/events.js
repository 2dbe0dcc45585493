// The SDK's public event and option types (JSDoc only; `types/events.d.ts` is generated from it).

/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./quality.js').QualityLevel} QualityLevel */
/** @typedef {import('./quality.js').QualityMetrics} QualityMetrics */
/** @typedef {import('./backoff.js').BackoffOptions} BackoffOptions */
/** @typedef {import('./chat.js').ChatEvents} ChatEvents */
/** @typedef {import('./calls.js').CallEvents} InvitationEvents */

/**
 * @typedef {object} TrackEvent
 * @property {ParticipantInfo} participant
 * @property {TrackInfo} track
 * @property {MediaStreamTrack} mediaTrack
 * @property {MediaStream} stream
 */

/**
 * @typedef {object} TrackMutedEvent
 * @property {ParticipantInfo} participant the publisher (`client.you` for this client's tracks)
 * @property {TrackInfo} track
 * @property {boolean} muted
 * @property {boolean} local whether it is one of this client's tracks
 */

/**
 * @typedef {object} ConnectionQualityEvent
 * @property {string} participant sid; this client's own sid when `local`
 * @property {boolean} local this client's connection to the server (what it sends), rather than
 *   what it receives of another participant
 * @property {QualityLevel} level
 * @property {QualityMetrics} metrics
 * @property {import('./quality.js').ConnectionPath | null} [path] `local` only: how this client's
 *   media reaches the server (its selected ICE candidate pair): `udp`, `tcp`, or `relay` (TURN)
 */

/**
 * Every event of `ParleyClient.on`: the call's below, chat's (`ChatEvents`: `message`,
 * `messageUpdated`, `typing`, `receipt`, `member`, `presence`) and invitations'
 * (`InvitationEvents`: `callRinging`, `callUpdate`, `callAnsweredElsewhere`).
 * @typedef {CallEvents & ChatEvents & InvitationEvents} ParleyEvents
 */

/**
 * @typedef {object} CallEvents
 * @property {ParticipantInfo} participantJoined also for everyone already in the room on `join`
 * @property {ParticipantInfo} participantLeft
 * @property {ParticipantInfo} viewerJoined to moderators: someone watches through WHEP (hidden
 *   from everyone else); also for viewers already there on `join`
 * @property {ParticipantInfo} viewerLeft to moderators: a viewer stopped watching
 * @property {TrackEvent} trackSubscribed
 * @property {TrackEvent} trackUnsubscribed
 * @property {TrackMutedEvent} trackMuted
 * @property {{sid: string, level: number}[]} activeSpeakers loudest first; `[]` when nobody speaks
 * @property {ConnectionQualityEvent} connectionQuality when a level changes
 * @property {{attempt: number, delay: number, reason: string}} reconnecting the connection
 *   dropped; attempt `attempt` starts in `delay` ms
 * @property {{attempts: number, downtime: number, resumed: boolean}} reconnected back in the
 *   room; `downtime` in ms. `resumed`: the server kept the session (same participant, tracks
 *   and connections, whose ICE restarted); otherwise it was joined and published again
 * @property {{code: number, reason: string}} disconnected for good: by `disconnect()`, or
 *   reconnecting gave up
 * @property {Error & {code?: string}} error
 */

/** @typedef {string | (() => string | Promise<string>)} TokenSource */

/**
 * @typedef {object} ClientOptions
 * @property {boolean} [reconnect] reconnect after the connection drops (default true)
 * @property {BackoffOptions} [backoff] delays between reconnect attempts
 * @property {number} [keepaliveInterval] ms between pings; a ping unanswered this long counts as
 *   a dropped connection (default 4000; 0 = off)
 * @property {number} [qualityInterval] ms between connection-quality samples (default 2000)
 * @property {number} [requestTimeout] ms a request waits for its reply before rejecting with
 *   code `timeout` (default 20 000)
 */

export {};
