// Call invitations (docs/protocol.md, "Calls"): ring the other members of a conversation,
// accept, decline, cancel, and the events that say how an invitation stands. Joining the call
// is `ParleyClient.join(room, {token})` with the room and token an invite or accept returns.

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
  #io;
  /** Invitations ringing for this person, by id. @type {Map<string, InvitationInfo>} */
  #ringing = new Map();

  /** @param {CallsIo} io */
  constructor(io) {
    this.#io = io;
  }

  /** What rings here now, oldest first. @returns {InvitationInfo[]} */
  get ringing() { return [...this.#ringing.values()]; }

  /**
   * Ring the other members of a conversation (or only `invitees`).
   * @param {string} conversation
   * @param {'audio' | 'video'} media
   * @param {string[]} [invitees]
   * @returns {Promise<CallTicket>}
   */
  async invite(conversation, media, invitees) {
    const reply = await this.#io.request('call_invite', { conversation, media, invitees });
    return { invitation: reply.invitation, room: reply.room, token: reply.token };
  }

  /** @param {string} invitation id @returns {Promise<CallTicket>} */
  async accept(invitation) {
    const reply = await this.#io.request('call_accept', { invitation });
    this.#ringing.delete(invitation);
    return { invitation: reply.invitation, room: reply.room, token: reply.token };
  }

  /** @param {string} invitation id */
  async decline(invitation) {
    this.#ringing.delete(invitation);
    await this.#io.request('call_decline', { invitation });
  }

  /** The caller stops ringing. @param {string} invitation id */
  async cancel(invitation) {
    await this.#io.request('call_cancel', { invitation });
  }

  /**
   * Apply one server frame if it is a call event.
   * @param {any} msg
   * @param {string | null} identity this person, to tell when their own entry stops ringing
   * @returns {boolean}
   */
  handle(msg, identity) {
    /** @type {InvitationInfo} */
    const inv = msg.invitation;
    switch (msg.type) {
      case 'call_ringing':
        this.#ringing.set(inv.id, inv);
        this.#io.emit('callRinging', inv);
        return true;
      case 'call_update': {
        const mine = inv.invitees.find((i) => i.identity === identity);
        if (inv.state !== 'ringing' || (mine && mine.state !== 'ringing')) this.#ringing.delete(inv.id);
        this.#io.emit('callUpdate', inv);
        return true;
      }
      case 'call_answered_elsewhere':
        this.#ringing.delete(inv.id);
        this.#io.emit('callAnsweredElsewhere', inv);
        return true;
      default:
        return false;
    }
  }
}
