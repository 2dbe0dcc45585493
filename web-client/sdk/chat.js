// Chat on the call's WebSocket (docs/protocol.md, "Chat"): requests, typed events, and the
// bookkeeping that makes every message reach the app once and in order, across reconnects.
// No DOM in here beyond `fetch` and `URL.createObjectURL`, so node can test it with a fake server.

import { backoffDelay } from './backoff.js';
import { ParleyError } from './protocol.js';

/**
 * @typedef {object} AttachmentInfo
 * @property {string} id
 * @property {string} filename
 * @property {string} content_type
 * @property {number} size bytes
 * @property {string} url download path (members only, with the bearer token: see `Chat.download`)
 */

/**
 * @typedef {object} ChatMessage
 * @property {string} id
 * @property {string} conversation
 * @property {number} seq per conversation, gapless from 1
 * @property {number} version the conversation's change counter when the message last changed
 * @property {string | null} sender identity; null once erased
 * @property {string | null} client_msg_id
 * @property {string | null} text null once deleted
 * @property {AttachmentInfo[]} attachments
 * @property {string | null} reply_to
 * @property {number} created_at Unix ms
 * @property {number | null} edited_at
 * @property {number | null} deleted_at
 * @property {Record<string, string[]>} reactions emoji → identities
 * @property {any} [system] set on messages the server writes (calls); show them as notices
 */

/**
 * @typedef {object} ConversationInfo
 * @property {string} id
 * @property {'direct' | 'group' | 'room'} kind
 * @property {string | null} title
 * @property {string | null} room the call room, for `room` conversations
 * @property {number} last_seq
 * @property {number} last_version
 * @property {string} [role]
 * @property {boolean} muted
 * @property {number} delivered_up_to
 * @property {number} read_up_to
 */

/** @typedef {{conversation: string, identity: string, typing: boolean}} TypingEvent */
/** @typedef {{conversation: string, identity: string, delivered_up_to: number, read_up_to: number}} ReceiptEvent */
/** @typedef {{conversation: string, identity: string, change: string}} MemberEvent */
/** @typedef {{identity: string, status: 'online' | 'away' | 'offline', last_seen_at: number | null}} PresenceInfo */

/**
 * @typedef {object} ChatEvents
 * @property {ChatMessage} message a new message, once, in seq order per conversation (this
 *   device's own sends too, when acknowledged; match `client_msg_id` to a pending bubble)
 * @property {ChatMessage} messageUpdated edited, deleted or reacted to
 * @property {TypingEvent} typing
 * @property {ReceiptEvent} receipt another member's receipts moved
 * @property {MemberEvent} member
 * @property {PresenceInfo} presence
 */

/**
 * @typedef {object} ChatIo
 * @property {(type: string, fields: object) => Promise<any>} request
 * @property {<K extends keyof ChatEvents>(name: K, payload: ChatEvents[K]) => void} emit
 * @property {(path: string, init?: RequestInit) => Promise<Response>} fetch REST with the bearer token
 * @property {(err: unknown) => void} fail
 */

/** Errors after which the same request may succeed: a resend of a `client_msg_id` cannot duplicate. */
const RETRIABLE = Object.freeze(['unavailable', 'rate_limited', 'timeout', 'not_connected', 'disconnected']);
/** A typing start lapses on the server after 6 s; refreshed this often while the user types. */
export const TYPING_REFRESH_MS = 3000;
/** With no keystroke for this long, typing stops by itself. */
export const TYPING_IDLE_MS = 5000;

export class Chat {
  #io;
  /** Per conversation: the highest seq handed to the app with nothing missing below it, and the
   * `version` to sync changes from. @type {Map<string, {seq: number, version: number | null}>} */
  #cursors = new Map();
  /** Messages that arrived ahead of a gap, by conversation then seq. @type {Map<string, Map<number, ChatMessage>>} */
  #ahead = new Map();
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #gapTimer;
  /** @type {Promise<void> | null} */ #syncing = null;
  /** Cursors of conversations a sync reported gone: a call room's conversation is gone while a
   * reconnecting client is out of the room, and rejoining continues the visit from there.
   * @type {Map<string, {seq: number, version: number | null}>} */
  #left = new Map();
  /** Receipts sent, so each only moves forward once. @type {Map<string, {delivered: number, read: number}>} */
  #marked = new Map();
  /** @type {Map<string, ReturnType<typeof setTimeout>>} */ #deliverTimers = new Map();
  /** @type {Map<string, {refresh: ReturnType<typeof setInterval>, idle: ReturnType<typeof setTimeout>}>} */
  #typing = new Map();
  /** @type {Map<string, Promise<string>>} object URLs of downloaded attachments, by id */
  #downloads = new Map();
  #counter = 0;
  /** Whether the server gave this connection chat (the token's `chat` grant). */
  enabled = false;
  /** This device's identity, to tell own messages from others'. @type {string | null} */
  identity = null;

  /** @param {ChatIo} io */
  constructor(io) {
    this.#io = io;
  }

  /**
   * The socket is (again) authenticated. The first time, the conversations' heads become the
   * cursors (older messages come from `history` when wanted); after a reconnect, `chat_sync`
   * fetches what was missed.
   * @param {string} identity
   */
  async connected(identity) {
    this.identity = identity;
    const first = this.#cursors.size === 0;
    try {
      if (first) await this.conversations();
      else await this.sync();
      this.enabled = true;
    } catch (err) {
      const code = /** @type {ParleyError} */ (err).code;
      // A token without the chat grant: calls only.
      if (code === 'forbidden' || code === 'unknown_type') this.enabled = false;
      else throw err;
    }
  }

  /** Your conversations, with your receipts; unknown ones start their cursor at their head. @returns {Promise<ConversationInfo[]>} */
  async conversations() {
    const reply = await this.#io.request('chat_conversations', {});
    /** @type {ConversationInfo[]} */
    const list = reply.conversations;
    for (const c of list) this.#know(c);
    return list;
  }

  /**
   * Start (or get: one per pair) a direct conversation, or a group.
   * @param {'direct' | 'group'} kind @param {string[]} withIdentities @param {string} [title]
   * @returns {Promise<ConversationInfo>}
   */
  async create(kind, withIdentities, title) {
    const reply = await this.#io.request('chat_create', { kind, with: withIdentities, title });
    this.#know(reply.conversation);
    return reply.conversation;
  }

  /** @param {ConversationInfo} c */
  #know(c) {
    const cur = this.#cursors.get(c.id);
    if (!cur) this.#cursors.set(c.id, { seq: c.last_seq, version: c.last_version });
    else if (cur.version === null) cur.version = c.last_version;
    const marked = this.#marked.get(c.id) ?? { delivered: 0, read: 0 };
    marked.delivered = Math.max(marked.delivered, c.delivered_up_to ?? 0);
    marked.read = Math.max(marked.read, c.read_up_to ?? 0);
    this.#marked.set(c.id, marked);
  }

  /**
   * A conversation this client now belongs to (a call room's, from `joined`): known from now on,
   * so a reconnect syncs it from here rather than from its first message.
   * @param {string} conversation
   */
  async track(conversation) {
    if (this.#cursors.has(conversation)) return;
    const left = this.#left.get(conversation);
    if (left) {
      // Back in a room we were in a moment ago (a reconnect): catch up from where we were.
      this.#left.delete(conversation);
      this.#cursors.set(conversation, left);
      await this.sync();
      return;
    }
    await this.conversations();
  }

  /**
   * Send a message. Retried with the same `client_msg_id` while the server is briefly
   * unavailable, rate limits, or the connection is down and coming back; the server keeps one.
   * @param {string} conversation
   * @param {string} text
   * @param {{attachments?: string[], replyTo?: string, clientMsgId?: string, retryFor?: number}} [options]
   *   `attachments`: ids from `upload`; `retryFor`: ms to keep retrying (default 60 000)
   * @returns {Promise<ChatMessage>}
   */
  async send(conversation, text, options = {}) {
    const clientMsgId = options.clientMsgId ?? this.newClientMsgId();
    this.#stopTyping(conversation, true);
    const fields = {
      conversation, client_msg_id: clientMsgId, text, attachments: options.attachments ?? [], reply_to: options.replyTo,
    };
    const reply = await this.#retrying('chat_send', fields, options.retryFor ?? 60_000);
    this.accept(reply.message);
    return reply.message;
  }

  /** A fresh id for `send`'s `clientMsgId`, e.g. to show a pending bubble before the ack. */
  newClientMsgId() {
    const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    return `c-${random}-${++this.#counter}`;
  }

  /** @param {string} type @param {object} fields @param {number} retryFor */
  async #retrying(type, fields, retryFor) {
    const deadline = Date.now() + retryFor;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#io.request(type, fields);
      } catch (err) {
        const code = /** @type {ParleyError} */ (err).code;
        const delay = backoffDelay(attempt, { initialDelay: 250, maxDelay: 4000 });
        if (!RETRIABLE.includes(code) || Date.now() + delay > deadline) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Edit one of your messages. @param {string} message id @param {string} text @returns {Promise<ChatMessage>} */
  async edit(message, text) {
    return this.#changed(await this.#io.request('chat_edit', { message, text }));
  }

  /** Delete a message (yours; moderators: any). A tombstone stays. @param {string} message @returns {Promise<ChatMessage>} */
  async delete(message) {
    return this.#changed(await this.#io.request('chat_delete', { message }));
  }

  /** Add or take back a reaction. @param {string} message @param {string} emoji @param {boolean} [on] @returns {Promise<ChatMessage>} */
  async react(message, emoji, on = true) {
    return this.#changed(await this.#io.request('chat_react', { message, emoji, on }));
  }

  /** Our own change: the server does not send us its event, so the app hears of it here. @param {any} reply */
  #changed(reply) {
    /** @type {ChatMessage} */
    const m = reply.message;
    this.#io.emit('messageUpdated', m);
    return m;
  }

  /**
   * Say the user is typing (call it on every keystroke) or stopped. While typing, the start is
   * refreshed every `TYPING_REFRESH_MS`; with no call for `TYPING_IDLE_MS`, it stops by itself.
   * Sending a message stops it too.
   * @param {string} conversation @param {boolean} typing
   */
  setTyping(conversation, typing) {
    if (!typing) return this.#stopTyping(conversation, true);
    const current = this.#typing.get(conversation);
    if (current) {
      clearTimeout(current.idle);
      current.idle = setTimeout(() => this.#stopTyping(conversation, true), TYPING_IDLE_MS);
      return;
    }
    this.#sendTyping(conversation, true);
    this.#typing.set(conversation, {
      refresh: setInterval(() => this.#sendTyping(conversation, true), TYPING_REFRESH_MS),
      idle: setTimeout(() => this.#stopTyping(conversation, true), TYPING_IDLE_MS),
    });
  }

  /** @param {string} conversation @param {boolean} tell */
  #stopTyping(conversation, tell) {
    const t = this.#typing.get(conversation);
    if (!t) return;
    clearInterval(t.refresh);
    clearTimeout(t.idle);
    this.#typing.delete(conversation);
    if (tell) this.#sendTyping(conversation, false);
  }

  /** @param {string} conversation @param {boolean} typing */
  #sendTyping(conversation, typing) {
    // Ephemeral: a lost start or stop is corrected by the next one or by the server's expiry.
    this.#io.request('chat_typing', { conversation, typing }).catch(() => {});
  }

  /**
   * Receipts: everything up to `seq` was read (which implies delivered). Only moves forward.
   * @param {string} conversation @param {number} seq
   */
  async markRead(conversation, seq) {
    const marked = this.#marked.get(conversation) ?? { delivered: 0, read: 0 };
    this.#marked.set(conversation, marked);
    if (seq <= marked.read) return;
    marked.read = seq;
    marked.delivered = Math.max(marked.delivered, seq);
    await this.#io.request('chat_mark', { conversation, read: seq });
  }

  /** @param {string} conversation @param {number} seq */
  async markDelivered(conversation, seq) {
    const marked = this.#marked.get(conversation) ?? { delivered: 0, read: 0 };
    this.#marked.set(conversation, marked);
    if (seq <= marked.delivered) return;
    marked.delivered = seq;
    await this.#io.request('chat_mark', { conversation, delivered: seq });
  }

  /**
   * A page of history, ascending: the newest `limit` messages, or those before / after a seq.
   * The newest page also moves the conversation's cursor, so its messages are not announced
   * again as `message` events.
   * @param {string} conversation
   * @param {{before?: number, after?: number, limit?: number}} [page]
   * @returns {Promise<ChatMessage[]>}
   */
  async history(conversation, page = {}) {
    const reply = await this.#io.request('chat_history', { conversation, before: page.before, after: page.after, limit: page.limit });
    /** @type {ChatMessage[]} */
    const messages = reply.messages;
    if (page.before === undefined && page.after === undefined) {
      const top = messages.at(-1)?.seq ?? 0;
      const cur = this.#cursors.get(conversation);
      if (!cur) this.#cursors.set(conversation, { seq: top, version: null });
      else if (top > cur.seq) cur.seq = top;
      this.#drain(conversation);
    }
    return messages;
  }

  /**
   * Catch up after a reconnect: everything after each conversation's cursor, and the changes
   * to messages already held. One at a time; a call while one runs waits for it and runs again.
   */
  sync() {
    const run = async () => {
      for (let round = 0; round < 20; round++) {
        const cursors = [...this.#cursors].map(([conversation, c]) => ({
          conversation, after_seq: c.seq, after_version: c.version ?? undefined,
        }));
        const reply = await this.#io.request('chat_sync', { cursors });
        let more = false;
        for (const batch of reply.batches) {
          for (const m of batch.messages) this.accept(m);
          for (const m of batch.changed) this.#io.emit('messageUpdated', m);
          const cur = this.#cursors.get(batch.conversation);
          if (cur) cur.version = batch.version;
          more ||= batch.more;
        }
        for (const gone of reply.gone) {
          const cursor = this.#cursors.get(gone);
          if (cursor) this.#left.set(gone, cursor);
          this.#cursors.delete(gone);
          this.#ahead.delete(gone);
        }
        if (!more) return;
      }
    };
    const previous = this.#syncing ?? Promise.resolve();
    const next = previous.then(run, run).finally(() => {
      if (this.#syncing === next) this.#syncing = null;
    });
    this.#syncing = next;
    return next;
  }

  /**
   * Take one message from an event, an ack or a sync batch: handed to the app if it is the next
   * one of its conversation, held if one before it is missing (a sync fetches it), dropped if
   * already handed on.
   * @param {ChatMessage} m
   */
  accept(m) {
    const cur = this.#cursors.get(m.conversation);
    if (!cur) {
      // A conversation we did not know (just created, or we were just added): it starts here.
      this.#cursors.set(m.conversation, { seq: m.seq - 1, version: null });
    } else if (m.seq <= cur.seq) {
      return;
    }
    let ahead = this.#ahead.get(m.conversation);
    if (!ahead) this.#ahead.set(m.conversation, (ahead = new Map()));
    ahead.set(m.seq, m);
    this.#drain(m.conversation);
  }

  /** Hand on every held message that is next in line. @param {string} conversation */
  #drain(conversation) {
    const cur = this.#cursors.get(conversation);
    const ahead = this.#ahead.get(conversation);
    if (!cur || !ahead) return;
    for (const seq of [...ahead.keys()]) if (seq <= cur.seq) ahead.delete(seq);
    let fromOthers = false;
    for (let next = ahead.get(cur.seq + 1); next; next = ahead.get(cur.seq + 1)) {
      ahead.delete(next.seq);
      cur.seq = next.seq;
      if (next.sender !== this.identity) fromOthers = true;
      this.#io.emit('message', next);
    }
    if (fromOthers) this.#deliverSoon(conversation);
    if (ahead.size) this.#syncSoon();
    else this.#ahead.delete(conversation);
  }

  /** A gap: events may still be on their way, so wait a moment before asking. */
  #syncSoon() {
    if (this.#gapTimer) return;
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = undefined;
      if (this.#ahead.size) this.sync().catch((err) => this.#io.fail(err));
    }, 500);
  }

  /** Receipts for what reached this device, batched. @param {string} conversation */
  #deliverSoon(conversation) {
    if (this.#deliverTimers.has(conversation)) return;
    this.#deliverTimers.set(conversation, setTimeout(() => {
      this.#deliverTimers.delete(conversation);
      const seq = this.#cursors.get(conversation)?.seq ?? 0;
      this.markDelivered(conversation, seq).catch(() => {}); // the next message marks again
    }, 300));
  }

  /**
   * Apply one server frame if it is a chat event.
   * @param {any} msg
   * @returns {boolean} whether it was one
   */
  handle(msg) {
    switch (msg.type) {
      case 'chat_message':
        this.accept(msg.message);
        return true;
      case 'chat_message_updated':
        this.#io.emit('messageUpdated', msg.message);
        return true;
      case 'chat_typing':
        this.#io.emit('typing', { conversation: msg.conversation, identity: msg.identity, typing: msg.typing });
        return true;
      case 'chat_receipt':
        this.#io.emit('receipt', {
          conversation: msg.conversation, identity: msg.identity, delivered_up_to: msg.delivered_up_to, read_up_to: msg.read_up_to,
        });
        return true;
      case 'chat_member':
        this.#io.emit('member', { conversation: msg.conversation, identity: msg.identity, change: msg.change });
        return true;
      case 'presence':
        this.#io.emit('presence', msg.presence);
        return true;
      default:
        return false;
    }
  }

  /** Presence of some identities (at most 500). @param {string[]} identities @returns {Promise<PresenceInfo[]>} */
  async presence(identities) {
    return (await this.#io.request('presence_query', { identities })).presence;
  }

  /** Mark this device away or back online. @param {'online' | 'away'} status */
  async setPresence(status) {
    await this.#io.request('presence_set', { status });
  }

  /**
   * Upload a file to a conversation (members only; ≤ 10 MiB; PNG, JPEG, GIF, WebP, PDF or plain
   * text); send its `id` in `send`'s `attachments`.
   * @param {string} conversation
   * @param {Blob} file its `type` is sent as the Content-Type
   * @param {string} [filename] default: the File's name
   * @returns {Promise<AttachmentInfo>}
   */
  async upload(conversation, file, filename) {
    const name = filename ?? /** @type {File} */ (file).name ?? 'file';
    const res = await this.#io.fetch(`/api/conversations/${encodeURIComponent(conversation)}/attachments?filename=${encodeURIComponent(name)}`, {
      method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream' }, body: file,
    });
    if (!res.ok) throw await restError(res);
    return res.json();
  }

  /**
   * Download an attachment with the bearer token (a plain link would not carry it) and return
   * an object URL for `<img src>` or a download link; cached per attachment.
   * @param {AttachmentInfo} attachment
   * @returns {Promise<string>}
   */
  download(attachment) {
    let url = this.#downloads.get(attachment.id);
    if (!url) {
      url = this.#io.fetch(attachment.url).then(async (res) => {
        if (!res.ok) throw await restError(res);
        return URL.createObjectURL(await res.blob());
      });
      url.catch(() => this.#downloads.delete(attachment.id)); // a later call tries again
      this.#downloads.set(attachment.id, url);
    }
    return url;
  }

  /** The connection dropped: stop timers that would only fail. */
  disconnected() {
    for (const conversation of [...this.#typing.keys()]) this.#stopTyping(conversation, false);
  }

  /** Forget everything (the client disconnected for good). */
  reset() {
    this.disconnected();
    clearTimeout(this.#gapTimer);
    this.#gapTimer = undefined;
    for (const t of this.#deliverTimers.values()) clearTimeout(t);
    this.#deliverTimers.clear();
    this.#cursors.clear();
    this.#ahead.clear();
    this.#marked.clear();
    for (const url of this.#downloads.values()) url.then((u) => URL.revokeObjectURL(u), () => {});
    this.#downloads.clear();
    this.enabled = false;
  }
}

/** A REST error (`{"error": {"code", "message"}}`) as a `ParleyError`. @param {Response} res */
async function restError(res) {
  const body = await res.json().catch(() => null);
  const code = body?.error?.code ?? `http_${res.status}`;
  return new ParleyError(code, body?.error?.message ?? `HTTP ${res.status}`);
}
