/** A typing start lapses on the server after 6 s; refreshed this often while the user types. */
export const TYPING_REFRESH_MS: 3000;
/** With no keystroke for this long, typing stops by itself. */
export const TYPING_IDLE_MS: 5000;
export class Chat {
    /** @param {ChatIo} io */
    constructor(io: ChatIo);
    /** Whether the server gave this connection chat (the token's `chat` grant). */
    enabled: boolean;
    /** This device's identity, to tell own messages from others'. @type {string | null} */
    identity: string | null;
    /**
     * The socket is (again) authenticated. The first time, the conversations' heads become the
     * cursors (older messages come from `history` when wanted); after a reconnect, `chat_sync`
     * fetches what was missed.
     * @param {string} identity
     */
    connected(identity: string): Promise<void>;
    /** Your conversations, with your receipts; unknown ones start their cursor at their head. @returns {Promise<ConversationInfo[]>} */
    conversations(): Promise<ConversationInfo[]>;
    /**
     * Start (or get: one per pair) a direct conversation, or a group.
     * @param {'direct' | 'group'} kind @param {string[]} withIdentities @param {string} [title]
     * @returns {Promise<ConversationInfo>}
     */
    create(kind: "direct" | "group", withIdentities: string[], title?: string): Promise<ConversationInfo>;
    /**
     * A conversation this client now belongs to (a call room's, from `joined`): known from now on,
     * so a reconnect syncs it from here rather than from its first message.
     * @param {string} conversation
     */
    track(conversation: string): Promise<void>;
    /**
     * Send a message. Retried with the same `client_msg_id` while the server is briefly
     * unavailable, rate limits, or the connection is down and coming back; the server keeps one.
     * @param {string} conversation
     * @param {string} text
     * @param {{attachments?: string[], replyTo?: string, clientMsgId?: string, retryFor?: number}} [options]
     *   `attachments`: ids from `upload`; `retryFor`: ms to keep retrying (default 60 000)
     * @returns {Promise<ChatMessage>}
     */
    send(conversation: string, text: string, options?: {
        attachments?: string[];
        replyTo?: string;
        clientMsgId?: string;
        retryFor?: number;
    }): Promise<ChatMessage>;
    /** A fresh id for `send`'s `clientMsgId`, e.g. to show a pending bubble before the ack. */
    newClientMsgId(): string;
    /** Edit one of your messages. @param {string} message id @param {string} text @returns {Promise<ChatMessage>} */
    edit(message: string, text: string): Promise<ChatMessage>;
    /** Delete a message (yours; moderators: any). A tombstone stays. @param {string} message @returns {Promise<ChatMessage>} */
    delete(message: string): Promise<ChatMessage>;
    /** Add or take back a reaction. @param {string} message @param {string} emoji @param {boolean} [on] @returns {Promise<ChatMessage>} */
    react(message: string, emoji: string, on?: boolean): Promise<ChatMessage>;
    /**
     * Say the user is typing (call it on every keystroke) or stopped. While typing, the start is
     * refreshed every `TYPING_REFRESH_MS`; with no call for `TYPING_IDLE_MS`, it stops by itself.
     * Sending a message stops it too.
     * @param {string} conversation @param {boolean} typing
     */
    setTyping(conversation: string, typing: boolean): void;
    /**
     * Receipts: everything up to `seq` was read (which implies delivered). Only moves forward.
     * @param {string} conversation @param {number} seq
     */
    markRead(conversation: string, seq: number): Promise<void>;
    /** @param {string} conversation @param {number} seq */
    markDelivered(conversation: string, seq: number): Promise<void>;
    /**
     * A page of history, ascending: the newest `limit` messages, or those before / after a seq.
     * The newest page also moves the conversation's cursor, so its messages are not announced
     * again as `message` events.
     * @param {string} conversation
     * @param {{before?: number, after?: number, limit?: number}} [page]
     * @returns {Promise<ChatMessage[]>}
     */
    history(conversation: string, page?: {
        before?: number;
        after?: number;
        limit?: number;
    }): Promise<ChatMessage[]>;
    /**
     * Catch up after a reconnect: everything after each conversation's cursor, and the changes
     * to messages already held. One at a time; a call while one runs waits for it and runs again.
     */
    sync(): Promise<void>;
    /**
     * Take one message from an event, an ack or a sync batch: handed to the app if it is the next
     * one of its conversation, held if one before it is missing (a sync fetches it), dropped if
     * already handed on.
     * @param {ChatMessage} m
     */
    accept(m: ChatMessage): void;
    /**
     * Apply one server frame if it is a chat event.
     * @param {any} msg
     * @returns {boolean} whether it was one
     */
    handle(msg: any): boolean;
    /** Presence of some identities (at most 500). @param {string[]} identities @returns {Promise<PresenceInfo[]>} */
    presence(identities: string[]): Promise<PresenceInfo[]>;
    /** Mark this device away or back online. @param {'online' | 'away'} status */
    setPresence(status: "online" | "away"): Promise<void>;
    /**
     * Upload a file to a conversation (members only; ≤ 10 MiB; PNG, JPEG, GIF, WebP, PDF or plain
     * text); send its `id` in `send`'s `attachments`.
     * @param {string} conversation
     * @param {Blob} file its `type` is sent as the Content-Type
     * @param {string} [filename] default: the File's name
     * @returns {Promise<AttachmentInfo>}
     */
    upload(conversation: string, file: Blob, filename?: string): Promise<AttachmentInfo>;
    /**
     * Download an attachment with the bearer token (a plain link would not carry it) and return
     * an object URL for `<img src>` or a download link; cached per attachment.
     * @param {AttachmentInfo} attachment
     * @returns {Promise<string>}
     */
    download(attachment: AttachmentInfo): Promise<string>;
    /** The connection dropped: stop timers that would only fail. */
    disconnected(): void;
    /** Forget everything (the client disconnected for good). */
    reset(): void;
    #private;
}
export type AttachmentInfo = {
    id: string;
    filename: string;
    content_type: string;
    /**
     * bytes
     */
    size: number;
    /**
     * download path (members only, with the bearer token: see `Chat.download`)
     */
    url: string;
};
export type ChatMessage = {
    id: string;
    conversation: string;
    /**
     * per conversation, gapless from 1
     */
    seq: number;
    /**
     * the conversation's change counter when the message last changed
     */
    version: number;
    /**
     * identity; null once erased
     */
    sender: string | null;
    client_msg_id: string | null;
    /**
     * null once deleted
     */
    text: string | null;
    attachments: AttachmentInfo[];
    reply_to: string | null;
    /**
     * Unix ms
     */
    created_at: number;
    edited_at: number | null;
    deleted_at: number | null;
    /**
     * emoji → identities
     */
    reactions: Record<string, string[]>;
    /**
     * set on messages the server writes (calls); show them as notices
     */
    system?: any;
};
export type ConversationInfo = {
    id: string;
    kind: "direct" | "group" | "room";
    title: string | null;
    /**
     * the call room, for `room` conversations
     */
    room: string | null;
    last_seq: number;
    last_version: number;
    role?: string | undefined;
    muted: boolean;
    delivered_up_to: number;
    read_up_to: number;
};
export type TypingEvent = {
    conversation: string;
    identity: string;
    typing: boolean;
};
export type ReceiptEvent = {
    conversation: string;
    identity: string;
    delivered_up_to: number;
    read_up_to: number;
};
export type MemberEvent = {
    conversation: string;
    identity: string;
    change: string;
};
export type PresenceInfo = {
    identity: string;
    status: "online" | "away" | "offline";
    last_seen_at: number | null;
};
export type ChatEvents = {
    /**
     * a new message, once, in seq order per conversation (this
     * device's own sends too, when acknowledged; match `client_msg_id` to a pending bubble)
     */
    message: ChatMessage;
    /**
     * edited, deleted or reacted to
     */
    messageUpdated: ChatMessage;
    typing: TypingEvent;
    /**
     * another member's receipts moved
     */
    receipt: ReceiptEvent;
    member: MemberEvent;
    presence: PresenceInfo;
};
export type ChatIo = {
    request: (type: string, fields: object) => Promise<any>;
    emit: <K extends keyof ChatEvents>(name: K, payload: ChatEvents[K]) => void;
    /**
     * REST with the bearer token
     */
    fetch: (path: string, init?: RequestInit) => Promise<Response>;
    fail: (err: unknown) => void;
};
