// The call's chat side panel: the room conversation's history (older pages on scroll-up),
// messages with sender names, own messages with sent → delivered → read, typing, reactions,
// attachments, edit and delete. Built only on the SDK's public chat API (`client.chat`).

/** @typedef {import('../sdk/parley.js').ParleyClient} ParleyClient */
/** @typedef {import('../sdk/parley.js').ChatMessage} ChatMessage */

export const REACTIONS = Object.freeze(['👍', '❤️', '😂']);
const PAGE = 30;

/**
 * @typedef {object} ChatElements
 * @property {HTMLButtonElement} toggle
 * @property {HTMLElement} panel
 * @property {HTMLButtonElement} close
 * @property {HTMLElement} log
 * @property {HTMLButtonElement} older
 * @property {HTMLElement} typing
 * @property {HTMLFormElement} form
 * @property {HTMLTextAreaElement} input
 * @property {HTMLInputElement} file
 * @property {HTMLButtonElement} cancelEdit
 */

export class ChatPanel {
  #els;
  /** @type {ParleyClient | null} */ #client = null;
  /** @type {string | null} */ #conversation = null;
  /** @type {(() => void)[]} */ #off = [];
  /** Rendered messages by id. @type {Map<string, {message: ChatMessage, li: HTMLLIElement}>} */
  #messages = new Map();
  /** Sent, not acknowledged yet, by client_msg_id. @type {Map<string, HTMLLIElement>} */
  #pending = new Map();
  /** The furthest other members got, for ticks. */
  #delivered = 0;
  #read = 0;
  /** Who is typing, with a safety timer in case their stop is lost. @type {Map<string, ReturnType<typeof setTimeout>>} */
  #typing = new Map();
  /** Display names by identity. @type {Map<string, string>} */
  #names = new Map();
  #oldest = Infinity;
  #loadingOlder = false;
  #unread = 0;
  /** @type {string | null} message being edited */ #editing = null;
  /** What opened the panel, to give focus back to. @type {HTMLElement | null} */ #opener = null;

  /** @param {ChatElements} els */
  constructor(els) {
    this.#els = els;
    els.toggle.addEventListener('click', () => this.setOpen(els.panel.hidden));
    els.close.addEventListener('click', () => this.setOpen(false));
    els.panel.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        if (this.#editing) this.#stopEditing();
        else this.setOpen(false);
      }
    });
    els.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#submit();
    });
    els.input.addEventListener('keydown', (ev) => {
      // Enter sends, Shift+Enter is a new line: what chat users expect.
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.#submit();
      }
    });
    els.input.addEventListener('input', () => {
      if (this.#conversation && !this.#editing) this.#client?.chat.setTyping(this.#conversation, els.input.value.length > 0);
    });
    els.file.addEventListener('change', () => this.#attach());
    els.cancelEdit.addEventListener('click', () => this.#stopEditing());
    els.older.addEventListener('click', () => this.#loadOlder());
    els.log.addEventListener('scroll', () => {
      if (els.log.scrollTop < 40) this.#loadOlder();
    });
    document.addEventListener('visibilitychange', () => this.#markRead());
  }

  get open() { return !this.#els.panel.hidden; }

  /** @param {string} identity @param {string} name */
  setName(identity, name) {
    this.#names.set(identity, name);
  }

  /**
   * Show the conversation of the room just joined (`client.conversation`).
   * @param {ParleyClient} client @param {string | null} conversation
   */
  async attach(client, conversation) {
    this.detach();
    this.#client = client;
    this.#conversation = conversation;
    this.#els.toggle.disabled = !conversation;
    this.#els.toggle.title = conversation ? '' : 'Chat needs an invitation with the chat grant: guests call without chat';
    if (!conversation) return;
    const c = client.chat;
    this.#off = [
      client.on('message', (m) => m.conversation === conversation && this.#arrived(m)),
      client.on('messageUpdated', (m) => m.conversation === conversation && this.#render(m)),
      client.on('typing', (t) => t.conversation === conversation && t.identity !== client.identity && this.#setTyping(t.identity, t.typing)),
      client.on('receipt', (r) => {
        if (r.conversation !== conversation || r.identity === client.identity) return;
        this.#delivered = Math.max(this.#delivered, r.delivered_up_to);
        this.#read = Math.max(this.#read, r.read_up_to);
        this.#updateTicks();
      }),
      client.on('reconnected', () => this.#markRead()),
    ];
    const history = await c.history(conversation, { limit: PAGE });
    if (this.#client !== client) return;
    for (const m of history) this.#render(m);
    this.#oldest = history[0]?.seq ?? Infinity;
    this.#els.older.hidden = !(this.#oldest > 1 && history.length === PAGE);
    this.#scrollToEnd();
    this.#markRead();
  }

  /** Forget the room's conversation (left the call). */
  detach() {
    for (const off of this.#off) off();
    this.#off = [];
    for (const timer of this.#typing.values()) clearTimeout(timer);
    this.#typing.clear();
    this.#messages.clear();
    this.#pending.clear();
    this.#els.log.replaceChildren();
    this.#els.typing.textContent = '';
    this.#delivered = this.#read = 0;
    this.#oldest = Infinity;
    this.#unread = 0;
    this.#client = null;
    this.#conversation = null;
    this.#stopEditing();
    this.#showUnread();
    this.setOpen(false, false);
    this.#els.toggle.disabled = true;
  }

  /**
   * @param {boolean} open @param {boolean} [moveFocus]
   * @param {HTMLElement} [opener] gets focus back on close (default: the toolbar's toggle)
   */
  setOpen(open, moveFocus = true, opener) {
    const { panel, toggle, input } = this.#els;
    if (open) this.#opener = opener ?? null;
    panel.hidden = !open;
    toggle.setAttribute('aria-pressed', String(open));
    document.body.classList.toggle('chat-open', open);
    if (!moveFocus) return;
    if (open) {
      this.#scrollToEnd();
      input.focus();
      this.#markRead();
    } else {
      const back = this.#opener?.isConnected && this.#opener.offsetParent !== null ? this.#opener : toggle;
      this.#opener = null;
      back.focus();
    }
  }

  /** @param {ChatMessage} m */
  #arrived(m) {
    const client = this.#client;
    const nearEnd = this.#nearEnd();
    this.#render(m);
    if (m.sender === client?.identity) {
      this.#scrollToEnd();
      return;
    }
    this.#setTyping(m.sender ?? '', false);
    if (nearEnd) this.#scrollToEnd();
    if (this.#visible()) this.#markRead();
    else if (!this.open) {
      this.#unread++;
      this.#showUnread();
    }
  }

  #visible() {
    return this.open && document.visibilityState === 'visible';
  }

  /** Receipts for what this user has seen: everything, once the panel is open and visible. */
  #markRead() {
    const conversation = this.#conversation;
    if (!conversation || !this.#visible()) return;
    this.#unread = 0;
    this.#showUnread();
    const last = Math.max(0, ...[...this.#messages.values()].map(({ message }) => message.seq));
    if (last > 0) this.#client?.chat.markRead(conversation, last).catch(() => {}); // the next one marks again
  }

  #showUnread() {
    const badge = /** @type {HTMLElement | null} */ (this.#els.toggle.querySelector('.unread'));
    if (!badge) return;
    badge.textContent = this.#unread ? String(this.#unread) : '';
    badge.hidden = this.#unread === 0;
    // The count is read out as part of the button's name; the bare digit alone would not say what it counts.
    badge.setAttribute('aria-hidden', 'true');
    if (this.#unread) this.#els.toggle.setAttribute('aria-label', `Chat, ${this.#unread} unread`);
    else this.#els.toggle.removeAttribute('aria-label');
  }

  async #submit() {
    const client = this.#client;
    const conversation = this.#conversation;
    const text = this.#els.input.value.trim();
    if (!client || !conversation || !text) return;
    if (this.#editing) {
      const id = this.#editing;
      this.#stopEditing();
      await client.chat.edit(id, text).catch((err) => this.#failed('edit', err));
      return;
    }
    this.#els.input.value = '';
    await this.#send(text, []);
  }

  /** @param {string} text @param {string[]} attachments */
  async #send(text, attachments) {
    const client = this.#client;
    const conversation = this.#conversation;
    if (!client || !conversation) return;
    const clientMsgId = client.chat.newClientMsgId();
    const li = this.#pendingBubble(text, clientMsgId);
    try {
      // The `message` event (or the ack) replaces the bubble; the SDK retries while it can.
      await client.chat.send(conversation, text, { attachments, clientMsgId });
    } catch (err) {
      li.dataset.status = 'failed';
      li.querySelector('.status')?.replaceChildren('not sent');
      this.#failed('send', err);
    }
  }

  async #attach() {
    const client = this.#client;
    const conversation = this.#conversation;
    const files = [...(this.#els.file.files ?? [])];
    this.#els.file.value = '';
    if (!client || !conversation || !files.length) return;
    try {
      const uploaded = await Promise.all(files.map((f) => client.chat.upload(conversation, f)));
      const text = this.#els.input.value.trim();
      this.#els.input.value = '';
      await this.#send(text, uploaded.map((a) => a.id));
    } catch (err) {
      this.#failed('upload', err);
    }
  }

  /** @param {string} what @param {unknown} err */
  #failed(what, err) {
    this.#els.typing.textContent = `Could not ${what}: ${err instanceof Error ? err.message : err}`;
  }

  /** @param {string} text @param {string} clientMsgId */
  #pendingBubble(text, clientMsgId) {
    const li = document.createElement('li');
    li.className = 'msg own';
    li.dataset.clientMsgId = clientMsgId;
    li.dataset.status = 'sending';
    li.append(meta('You', Date.now()), textBlock(text), status('sending'));
    this.#pending.set(clientMsgId, li);
    this.#els.log.append(li);
    this.#scrollToEnd();
    return li;
  }

  /** Render (or re-render) one message in seq order. @param {ChatMessage} m */
  #render(m) {
    const client = this.#client;
    const existing = this.#messages.get(m.id);
    if (existing && existing.message.version > m.version) return; // an older copy
    const li = existing?.li ?? this.#pending.get(m.client_msg_id ?? '') ?? document.createElement('li');
    if (m.client_msg_id) this.#pending.delete(m.client_msg_id);
    const own = Boolean(client && m.sender === client.identity);
    li.dataset.id = m.id;
    li.dataset.seq = String(m.seq);
    li.className = m.system ? 'notice' : `msg${own ? ' own' : ''}${m.deleted_at ? ' deleted' : ''}`;
    if (m.system) {
      li.replaceChildren(systemText(m));
    } else {
      const name = own ? 'You' : this.#names.get(m.sender ?? '') ?? m.sender ?? 'Someone';
      /** @type {HTMLElement[]} */
      const parts = [meta(name, m.created_at, m.edited_at)];
      parts.push(textBlock(m.deleted_at ? 'Message deleted' : m.text ?? ''));
      if (!m.deleted_at && m.attachments.length) parts.push(this.#attachments(m));
      if (!m.deleted_at) parts.push(this.#actions(m, own));
      if (own) parts.push(status('sent'));
      li.replaceChildren(...parts);
    }
    this.#messages.set(m.id, { message: m, li });
    if (!existing) this.#place(li, m.seq);
    if (own) this.#updateTicks();
  }

  /** Insert by seq: history pages come before, events after, sync copies in between. @param {HTMLLIElement} li @param {number} seq */
  #place(li, seq) {
    const after = [...this.#els.log.querySelectorAll('li[data-seq]')]
      .find((el) => el !== li && Number(/** @type {HTMLElement} */ (el).dataset.seq) > seq);
    if (after) after.before(li);
    else if (!li.isConnected || li.nextElementSibling) this.#els.log.append(li);
  }

  /** @param {ChatMessage} m */
  #attachments(m) {
    const box = document.createElement('div');
    box.className = 'attachments';
    for (const a of m.attachments) {
      const image = a.content_type.startsWith('image/');
      const el = image ? document.createElement('img') : document.createElement('a');
      if (el instanceof HTMLImageElement) el.alt = a.filename;
      else {
        el.textContent = `${a.filename} (${formatSize(a.size)})`;
        el.download = a.filename;
      }
      box.append(el);
      // Downloads need the bearer token, so the bytes come through the SDK as an object URL.
      this.#client?.chat.download(a).then((url) => {
        if (el instanceof HTMLImageElement) el.src = url;
        else el.href = url;
      }, () => { el.classList.add('broken'); });
    }
    return box;
  }

  /** Reaction buttons with counts, and edit/delete for one's own. @param {ChatMessage} m @param {boolean} own */
  #actions(m, own) {
    const client = this.#client;
    const box = document.createElement('div');
    box.className = 'actions';
    for (const emoji of REACTIONS) {
      const who = m.reactions[emoji] ?? [];
      const mine = Boolean(client?.identity && who.includes(client.identity));
      const b = button(`${emoji}${who.length ? ` ${who.length}` : ''}`, `React ${emoji}${who.length ? `, ${who.length}` : ''}`);
      b.className = 'reaction';
      b.dataset.emoji = emoji;
      b.setAttribute('aria-pressed', String(mine));
      b.addEventListener('click', () => client?.chat.react(m.id, emoji, !mine).catch((err) => this.#failed('react', err)));
      box.append(b);
    }
    if (own) {
      const edit = button('Edit', 'Edit message');
      edit.addEventListener('click', () => this.#startEditing(m));
      const del = button('Delete', 'Delete message');
      del.addEventListener('click', () => client?.chat.delete(m.id).catch((err) => this.#failed('delete', err)));
      box.append(edit, del);
    }
    return box;
  }

  /** @param {ChatMessage} m */
  #startEditing(m) {
    this.#editing = m.id;
    this.#els.form.dataset.editing = m.id;
    this.#els.input.value = m.text ?? '';
    this.#els.cancelEdit.hidden = false;
    this.#els.form.querySelector('[type="submit"]')?.replaceChildren('Save');
    this.#els.input.focus();
  }

  #stopEditing() {
    if (!this.#editing) return;
    this.#editing = null;
    delete this.#els.form.dataset.editing;
    this.#els.input.value = '';
    this.#els.cancelEdit.hidden = true;
    this.#els.form.querySelector('[type="submit"]')?.replaceChildren('Send');
  }

  /** sent → delivered → read, from the other members' receipts. */
  #updateTicks() {
    for (const { message, li } of this.#messages.values()) {
      const el = li.querySelector('.status');
      if (!el) continue;
      const state = message.seq <= this.#read ? 'read' : message.seq <= this.#delivered ? 'delivered' : 'sent';
      if (li.dataset.status === state) continue;
      li.dataset.status = state;
      el.replaceChildren(state);
      el.setAttribute('aria-label', `Status: ${state}`);
    }
  }

  /** @param {string} identity @param {boolean} typing */
  #setTyping(identity, typing) {
    clearTimeout(this.#typing.get(identity));
    this.#typing.delete(identity);
    // The server sends a stop when a start lapses (6 s); this only covers a lost one.
    if (typing) this.#typing.set(identity, setTimeout(() => this.#setTyping(identity, false), 8000));
    const names = [...this.#typing.keys()].map((id) => this.#names.get(id) ?? id);
    this.#els.typing.textContent = names.length === 0 ? ''
      : names.length === 1 ? `${names[0]} is typing…` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
  }

  async #loadOlder() {
    const client = this.#client;
    const conversation = this.#conversation;
    if (!client || !conversation || this.#loadingOlder || !(this.#oldest > 1) || this.#oldest === Infinity) return;
    this.#loadingOlder = true;
    const log = this.#els.log;
    const fromBottom = log.scrollHeight - log.scrollTop;
    try {
      const page = await client.chat.history(conversation, { before: this.#oldest, limit: PAGE });
      if (this.#client !== client) return;
      for (const m of page) this.#render(m);
      this.#oldest = page[0]?.seq ?? 1;
      this.#els.older.hidden = !(this.#oldest > 1 && page.length === PAGE);
      // Keep what the user was reading where it was.
      log.scrollTop = log.scrollHeight - fromBottom;
    } catch (err) {
      this.#failed('load older messages', err);
    } finally {
      this.#loadingOlder = false;
    }
  }

  #nearEnd() {
    const log = this.#els.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  #scrollToEnd() {
    this.#els.log.scrollTop = this.#els.log.scrollHeight;
  }
}

/** The notice a server-written message shows, e.g. "Missed call" or "Call, 12 min". @param {ChatMessage} m */
export function systemText(m) {
  // The server writes the words ("Missed call", "Call, 12 min"); the JSON is for when it did not.
  if (m.text) return m.text;
  const s = m.system ?? {};
  if (s.type === 'call') {
    const kind = s.media === 'audio' ? 'Voice call' : 'Call';
    switch (s.event) {
      case 'missed': return `Missed ${kind.toLowerCase()}`;
      case 'declined': return `${kind} declined`;
      case 'cancelled': return `${kind} cancelled`;
      case 'started': return `${kind} started`;
      case 'ended': {
        const minutes = Math.max(1, Math.round((s.duration_ms ?? 0) / 60_000));
        return `${kind}, ${minutes} min`;
      }
      default: break;
    }
  }
  return m.text ?? 'Notice';
}

/** @param {string} name @param {number} at @param {number | null} [edited] */
function meta(name, at, edited = null) {
  const div = document.createElement('div');
  div.className = 'meta';
  const sender = document.createElement('span');
  sender.className = 'sender';
  sender.textContent = name;
  const time = document.createElement('time');
  time.dateTime = new Date(at).toISOString();
  time.textContent = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  div.append(sender, ' ', time);
  if (edited) div.append(' (edited)');
  return div;
}

/** @param {string} text */
function textBlock(text) {
  const p = document.createElement('p');
  p.className = 'text';
  p.textContent = text;
  return p;
}

/** @param {string} state */
function status(state) {
  const span = document.createElement('span');
  span.className = 'status';
  span.textContent = state;
  span.setAttribute('aria-label', `Status: ${state}`);
  return span;
}

/** @param {string} text @param {string} label */
function button(text, label) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  return b;
}

/** @param {number} bytes */
function formatSize(bytes) {
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${Math.round(bytes / 1024)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}
