// The home screen of a signed-in person (a page opened with a token from the app's backend):
// their conversations with who is online, voice and video call buttons, "Calling…" with Cancel
// for the caller, and the incoming-call screen with Accept / Decline for the callee. Joining the
// call itself is the app's (`onJoin`). Built only on the SDK's public API.

/** @typedef {import('../sdk/parley.js').ParleyClient} ParleyClient */
/** @typedef {import('../sdk/parley.js').ConversationInfo} ConversationInfo */
/** @typedef {import('../sdk/parley.js').InvitationInfo} InvitationInfo */
/** @typedef {import('../sdk/parley.js').CallTicket} CallTicket */
/** @typedef {import('../sdk/parley.js').PresenceInfo} PresenceInfo */

/**
 * @typedef {object} HomeElements
 * @property {HTMLElement} section
 * @property {HTMLElement} who "Signed in as …"
 * @property {HTMLUListElement} list
 * @property {HTMLFormElement} startForm
 * @property {HTMLInputElement} startInput
 * @property {HTMLElement} notice where call outcomes are said (a live region)
 * @property {HTMLElement} incoming the incoming-call dialog
 * @property {HTMLElement} incomingTitle
 * @property {HTMLElement} incomingMedia
 * @property {HTMLButtonElement} accept
 * @property {HTMLButtonElement} decline
 * @property {HTMLElement} calling the caller's "Calling…" dialog
 * @property {HTMLElement} callingTitle
 * @property {HTMLButtonElement} cancel
 */

/**
 * @typedef {object} HomeActions
 * @property {(ticket: CallTicket) => Promise<void>} onJoin go into the call
 * @property {(conversation: string, opener: HTMLElement) => void} openChat
 */

const OUTCOME = {
  declined: 'declined the call', busy: 'is in another call', missed: 'did not answer', cancelled: 'call cancelled',
};

export class HomeScreen {
  #els;
  #actions;
  /** @type {ParleyClient | null} */ #client = null;
  /** The other person of each direct conversation, by conversation id. @type {Map<string, string>} */
  #peers = new Map();
  /** @type {Map<string, PresenceInfo>} */ #presence = new Map();
  /** The invitation ringing on screen. @type {InvitationInfo | null} */ #incoming = null;
  /** Our own invitation while it rings, with its ticket. @type {CallTicket | null} */ #outgoing = null;
  /** Where focus goes back to when a dialog closes. @type {HTMLElement | null} */ #focusBefore = null;
  /** @type {{stop: () => void} | null} */ #ring = null;

  /** @param {HomeElements} els @param {HomeActions} actions */
  constructor(els, actions) {
    this.#els = els;
    this.#actions = actions;
    els.startForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#startConversation(els.startInput.value.trim());
    });
    els.accept.addEventListener('click', () => this.#accept());
    els.decline.addEventListener('click', () => this.#decline());
    els.cancel.addEventListener('click', () => this.#cancel());
    for (const dialog of [els.incoming, els.calling]) trapFocus(dialog);
    els.incoming.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') this.#decline(); });
    els.calling.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') this.#cancel(); });
  }

  /** @param {ParleyClient} client */
  async start(client) {
    this.#client = client;
    this.#els.who.textContent = `Signed in as ${client.name ?? client.identity}`;
    client.on('callRinging', (inv) => this.#ringing(inv));
    client.on('callUpdate', (inv) => this.#updated(inv));
    client.on('callAnsweredElsewhere', (inv) => {
      if (this.#incoming?.id === inv.id) this.#closeIncoming('Answered on another device');
    });
    client.on('presence', (p) => {
      this.#presence.set(p.identity, p);
      this.#renderPresence();
    });
    client.on('member', (e) => {
      if (e.identity === client.identity && e.change === 'added') this.refresh().catch(() => {});
    });
    client.on('message', (m) => {
      // A conversation someone else started with us shows up with its first message.
      if (m.sender && m.sender !== client.identity && !this.#els.list.querySelector(`[data-conversation="${CSS.escape(m.conversation)}"]`)) {
        this.refresh().catch(() => {});
      }
    });
    await this.refresh();
    // Calls that rang before this page listened (the server rings a device as it connects).
    for (const inv of client.calls.ringing) this.#ringing(inv);
  }

  /** Reload the conversation list and everyone's presence. */
  async refresh() {
    const client = this.#client;
    if (!client) return;
    const conversations = (await client.chat.conversations()).filter((c) => c.kind !== 'room');
    await Promise.all(conversations.map((c) => this.#peerOf(c)));
    this.#els.list.replaceChildren(...conversations.map((c) => this.#row(c)));
    const people = [...new Set(this.#peers.values())];
    if (people.length) {
      for (const p of await client.chat.presence(people)) this.#presence.set(p.identity, p);
    }
    this.#renderPresence();
  }

  /** Direct conversations have no title: their other member names them. @param {ConversationInfo} c */
  async #peerOf(c) {
    if (c.kind !== 'direct' || this.#peers.has(c.id) || !this.#client) return;
    const me = this.#client.identity;
    const recent = await this.#client.chat.history(c.id, { limit: 50 }).catch(() => []);
    const other = recent.find((m) => m.sender && m.sender !== me)?.sender
      ?? recent.map((m) => m.system?.caller).find((id) => id && id !== me);
    if (other) this.#peers.set(c.id, other);
  }

  /** @param {string} identity */
  async #startConversation(identity) {
    const client = this.#client;
    if (!client || !identity) return;
    try {
      const c = await client.chat.create('direct', [identity]);
      this.#peers.set(c.id, identity);
      this.#els.startInput.value = '';
      await this.refresh();
    } catch (err) {
      this.#say(`Could not start a conversation with ${identity}: ${err instanceof Error ? err.message : err}`);
    }
  }

  /** @param {ConversationInfo} c */
  #row(c) {
    const label = c.title ?? this.#peers.get(c.id) ?? 'Conversation';
    const li = document.createElement('li');
    li.className = 'person';
    li.dataset.conversation = c.id;
    const peer = this.#peers.get(c.id);
    if (peer) li.dataset.identity = peer;
    const name = document.createElement('span');
    name.className = 'person-name';
    name.textContent = label;
    const presence = document.createElement('span');
    presence.className = 'presence';
    const voice = actionButton('Voice call', `Voice call ${label}`, () => this.#call(c.id, 'audio', label, voice));
    const video = actionButton('Video call', `Video call ${label}`, () => this.#call(c.id, 'video', label, video));
    const chat = actionButton('Chat', `Chat with ${label}`, () => this.#actions.openChat(c.id, chat));
    li.append(name, presence, voice, video, chat);
    return li;
  }

  #renderPresence() {
    for (const li of this.#els.list.querySelectorAll('li[data-identity]')) {
      const el = /** @type {HTMLElement} */ (li);
      const p = this.#presence.get(el.dataset.identity ?? '');
      const status = p?.status ?? 'offline';
      el.dataset.presence = status;
      const text = status === 'offline' && p?.last_seen_at ? `offline, last seen ${new Date(p.last_seen_at).toLocaleString()}` : status;
      el.querySelector('.presence')?.replaceChildren(text);
    }
  }

  /** @param {string} conversation @param {'audio' | 'video'} media @param {string} label @param {HTMLElement} opener */
  async #call(conversation, media, label, opener) {
    const client = this.#client;
    if (!client || this.#outgoing) return;
    try {
      this.#outgoing = await client.calls.invite(conversation, media);
    } catch (err) {
      this.#say(`Could not call ${label}: ${err instanceof Error ? err.message : err}`);
      return;
    }
    this.#els.callingTitle.textContent = `Calling ${label}…`;
    this.#open(this.#els.calling, this.#els.cancel, opener);
    // Everyone may have been busy already.
    this.#updated(this.#outgoing.invitation);
  }

  async #cancel() {
    const outgoing = this.#outgoing;
    if (!outgoing) return;
    this.#outgoing = null;
    this.#close(this.#els.calling);
    this.#say('Call cancelled');
    await this.#client?.calls.cancel(outgoing.invitation.id).catch(() => {}); // it may have just ended anyway
  }

  /** @param {InvitationInfo} inv */
  #ringing(inv) {
    if (this.#incoming || inv.state !== 'ringing') return;
    this.#incoming = inv;
    // The caller is the other person of a direct conversation we could not name yet.
    if (!this.#peers.has(inv.conversation) && inv.invitees.length === 1) {
      this.#peers.set(inv.conversation, inv.caller);
      this.refresh().catch(() => {});
    }
    const kind = inv.media === 'audio' ? 'Voice call' : 'Video call';
    this.#els.incomingTitle.textContent = `${inv.caller} is calling…`;
    this.#els.incomingMedia.textContent = kind;
    this.#open(this.#els.incoming, this.#els.accept, /** @type {HTMLElement | null} */ (document.activeElement));
    this.#ring = ring();
  }

  /** @param {InvitationInfo} inv */
  #updated(inv) {
    const me = this.#client?.identity;
    if (this.#incoming?.id === inv.id) {
      const mine = inv.invitees.find((i) => i.identity === me);
      if (inv.state !== 'ringing' || (mine && mine.state !== 'ringing')) {
        this.#closeIncoming(inv.state === 'cancelled' ? `${inv.caller} cancelled the call` : inv.state === 'missed' ? `Missed call from ${inv.caller}` : '');
      }
    }
    const outgoing = this.#outgoing;
    if (outgoing?.invitation.id !== inv.id) return;
    if (inv.state === 'ringing') {
      for (const i of inv.invitees) {
        if (i.state === 'busy' || i.state === 'declined') this.#say(`${i.identity} ${OUTCOME[i.state]}`);
      }
      return;
    }
    this.#outgoing = null;
    this.#close(this.#els.calling);
    if (inv.state === 'accepted') {
      this.#actions.onJoin({ ...outgoing, invitation: inv });
      return;
    }
    const who = inv.invitees.map((i) => i.identity).join(', ');
    this.#say(inv.state === 'cancelled' ? 'Call cancelled' : `${who} ${OUTCOME[inv.state] ?? inv.state}`);
  }

  async #accept() {
    const inv = this.#incoming;
    const client = this.#client;
    if (!inv || !client) return;
    this.#closeIncoming('');
    try {
      await this.#actions.onJoin(await client.calls.accept(inv.id));
    } catch (err) {
      this.#say(`Could not answer: ${err instanceof Error ? err.message : err}`);
    }
  }

  async #decline() {
    const inv = this.#incoming;
    if (!inv) return;
    this.#closeIncoming(`You declined ${inv.caller}'s call`);
    await this.#client?.calls.decline(inv.id).catch(() => {}); // it may have ended meanwhile
  }

  /** @param {string} message */
  #closeIncoming(message) {
    this.#incoming = null;
    this.#ring?.stop();
    this.#ring = null;
    this.#close(this.#els.incoming);
    if (message) this.#say(message);
  }

  /** @param {HTMLElement} dialog @param {HTMLElement} focus @param {HTMLElement | null} opener */
  #open(dialog, focus, opener) {
    this.#focusBefore = opener;
    dialog.hidden = false;
    document.body.classList.add('modal-open');
    focus.focus();
  }

  /** @param {HTMLElement} dialog */
  #close(dialog) {
    if (dialog.hidden) return;
    dialog.hidden = true;
    document.body.classList.remove('modal-open');
    if (this.#focusBefore?.isConnected && !this.#els.section.hidden) this.#focusBefore.focus();
    this.#focusBefore = null;
  }

  /** @param {string} text */
  #say(text) {
    this.#els.notice.textContent = text;
  }
}

/** @param {string} text @param {string} label @param {() => void} onClick */
function actionButton(text, label, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

/** Keep Tab inside a modal dialog. @param {HTMLElement} dialog */
function trapFocus(dialog) {
  dialog.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab') return;
    const focusable = /** @type {HTMLElement[]} */ ([...dialog.querySelectorAll('button:not([disabled])')]);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (ev.shiftKey && document.activeElement === first) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && document.activeElement === last) {
      ev.preventDefault();
      first.focus();
    }
  });
}

/** A soft two-tone ring while a call rings; silent where the browser does not let a page play sound yet. */
function ring() {
  /** @type {AudioContext | null} */
  let ctx = null;
  try {
    ctx = new AudioContext();
  } catch {
    return { stop() {} };
  }
  const audio = ctx;
  const beep = () => {
    if (audio.state !== 'running') return;
    for (const [freq, at] of [[440, 0], [480, 0]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      gain.gain.value = 0.05;
      osc.frequency.value = freq;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + at);
      osc.stop(audio.currentTime + at + 1);
    }
  };
  beep();
  const timer = setInterval(beep, 3000);
  return {
    stop() {
      clearInterval(timer);
      audio.close().catch(() => {});
    },
  };
}
