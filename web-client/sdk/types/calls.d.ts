/**
 * @typedef {object} InviteeInfo
 * @property {string} identity
 * @property {'ringing' | 'accepted' | 'declined' | 'busy' | 'answered_elsewhere' | 'missed' | 'cancelled'} state
 */
/**
 * @typedef {object} InvitationInfo
 * @property {string} id
 * @property {string} conversation
 * @property {string} caller identity
 * @property {'audio' | 'video'} media
 * @property {string} room the call's room
 * @property {'ringing' | 'accepted' | 'declined' | 'cancelled' | 'missed'} state
 * @property {InviteeInfo[]} invitees
 * @property {number} created_at Unix ms
 * @property {number} expires_at when it stops ringing unanswered
 * @property {number | null} [ended_at]
 * @property {string | null} [answered_by]
 */
/**
 * What `invite` and `accept` return: the invitation, and the room and token to `join` with.
 * @typedef {{invitation: InvitationInfo, room: string, token: string}} CallTicket
 */
/**
 * @typedef {object} CallEvents
 * @property {InvitationInfo} callRinging this person is being called (every device rings)
 * @property {InvitationInfo} callUpdate an invitation this person is in changed: accepted,
 *   declined, busy, cancelled, missed; stop ringing once their own entry is not `ringing`
 * @property {InvitationInfo} callAnsweredElsewhere another device of this person accepted
 */
/**
 * @typedef {object} CallsIo
 * @property {(type: string, fields: object) => Promise<any>} request
 * @property {<K extends keyof CallEvents>(name: K, payload: CallEvents[K]) => void} emit
 */
export class Calls {
    /** @param {CallsIo} io */
    constructor(io: CallsIo);
    /** What rings here now, oldest first. @returns {InvitationInfo[]} */
    get ringing(): InvitationInfo[];
    /**
     * Ring the other members of a conversation (or only `invitees`).
     * @param {string} conversation
     * @param {'audio' | 'video'} media
     * @param {string[]} [invitees]
     * @returns {Promise<CallTicket>}
     */
    invite(conversation: string, media: "audio" | "video", invitees?: string[]): Promise<CallTicket>;
    /** @param {string} invitation id @returns {Promise<CallTicket>} */
    accept(invitation: string): Promise<CallTicket>;
    /** @param {string} invitation id */
    decline(invitation: string): Promise<void>;
    /** The caller stops ringing. @param {string} invitation id */
    cancel(invitation: string): Promise<void>;
    /**
     * Apply one server frame if it is a call event.
     * @param {any} msg
     * @param {string | null} identity this person, to tell when their own entry stops ringing
     * @returns {boolean}
     */
    handle(msg: any, identity: string | null): boolean;
    #private;
}
export type InviteeInfo = {
    identity: string;
    state: "ringing" | "accepted" | "declined" | "busy" | "answered_elsewhere" | "missed" | "cancelled";
};
export type InvitationInfo = {
    id: string;
    conversation: string;
    /**
     * identity
     */
    caller: string;
    media: "audio" | "video";
    /**
     * the call's room
     */
    room: string;
    state: "ringing" | "accepted" | "declined" | "cancelled" | "missed";
    invitees: InviteeInfo[];
    /**
     * Unix ms
     */
    created_at: number;
    /**
     * when it stops ringing unanswered
     */
    expires_at: number;
    ended_at?: number | null | undefined;
    answered_by?: string | null | undefined;
};
/**
 * What `invite` and `accept` return: the invitation, and the room and token to `join` with.
 */
export type CallTicket = {
    invitation: InvitationInfo;
    room: string;
    token: string;
};
export type CallEvents = {
    /**
     * this person is being called (every device rings)
     */
    callRinging: InvitationInfo;
    /**
     * an invitation this person is in changed: accepted,
     * declined, busy, cancelled, missed; stop ringing once their own entry is not `ringing`
     */
    callUpdate: InvitationInfo;
    /**
     * another device of this person accepted
     */
    callAnsweredElsewhere: InvitationInfo;
};
export type CallsIo = {
    request: (type: string, fields: object) => Promise<any>;
    emit: <K extends keyof CallEvents>(name: K, payload: CallEvents[K]) => void;
};
