// The Parley app: join screen with device preview, then the call. Built only on the SDK's public API.
import { ParleyClient } from '../sdk/parley.js';
import { ChatPanel } from './chat.js';
import { HomeScreen } from './home.js';
import { DevicePicker } from './devices.js';
import { Tiles } from './tiles.js';

/** @typedef {import('../sdk/parley.js').ParticipantInfo} ParticipantInfo */
/** @typedef {'idle' | 'joining' | 'joined' | 'left' | 'error'} State */

/** @template {HTMLElement} T @param {string} id @returns {T} */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

const form = /** @type {HTMLFormElement} */ ($('join-form'));
const nameInput = /** @type {HTMLInputElement} */ ($('name'));
const roomInput = /** @type {HTMLInputElement} */ ($('room'));
const joinButton = /** @type {HTMLButtonElement} */ ($('join'));
const leaveButton = /** @type {HTMLButtonElement} */ ($('leave'));
const micButton = /** @type {HTMLButtonElement} */ ($('mic'));
const cameraButton = /** @type {HTMLButtonElement} */ ($('camera-toggle'));
const screenButton = /** @type {HTMLButtonElement} */ ($('screen'));
const statusLine = $('status');
const banner = $('banner');
const lobby = $('lobby');
const call = $('call');
const localVideo = /** @type {HTMLVideoElement} */ ($('local-video'));

const tiles = new Tiles($('stage'), $('tiles'), $('self'));
const chatPanel = new ChatPanel({
  toggle: /** @type {HTMLButtonElement} */ ($('chat-toggle')),
  panel: $('chat-panel'),
  close: /** @type {HTMLButtonElement} */ ($('chat-close')),
  log: $('chat-log'),
  older: /** @type {HTMLButtonElement} */ ($('chat-older')),
  typing: $('chat-typing'),
  form: /** @type {HTMLFormElement} */ ($('chat-form')),
  input: /** @type {HTMLTextAreaElement} */ ($('chat-input')),
  file: /** @type {HTMLInputElement} */ ($('chat-file')),
  cancelEdit: /** @type {HTMLButtonElement} */ ($('chat-cancel-edit')),
});
const devices = new DevicePicker({
  preview: /** @type {HTMLVideoElement} */ ($('preview')),
  camera: /** @type {HTMLSelectElement} */ ($('camera')),
  microphone: /** @type {HTMLSelectElement} */ ($('microphone')),
  meter: /** @type {HTMLMeterElement} */ ($('mic-level')),
}, (message) => { statusLine.textContent = message; });

/** @type {ParleyClient | null} */
let client = null;
/** @type {MediaStream | null} */
let localStream = null;
/** @type {MediaStream | null} */
let screenStream = null;

roomInput.value ||= new URLSearchParams(location.search).get('room') ?? '';

// A page opened with a token from the embedding app's backend (`#token=…`, a fragment so it
// never reaches server logs) is a signed-in person: their conversations and calls, not the
// guest lobby.
const homeToken = new URLSearchParams(location.hash.slice(1)).get('token');
// An invitation to one room from the embedding app's backend (`?room=…#invite=…`): the lobby
// joins with it (its name and grants, chat included) instead of a guest token, which calls
// without chat.
const inviteToken = new URLSearchParams(location.hash.slice(1)).get('invite');
const homeSection = $('home');
/** The signed-in person's connection, kept while they go in and out of calls. @type {ParleyClient | null} */
let homeClient = null;
const home = new HomeScreen({
  section: homeSection,
  who: $('home-who'),
  list: /** @type {HTMLUListElement} */ ($('people')),
  startForm: /** @type {HTMLFormElement} */ ($('start-form')),
  startInput: /** @type {HTMLInputElement} */ ($('start-identity')),
  notice: $('home-notice'),
  incoming: $('incoming'),
  incomingTitle: $('incoming-title'),
  incomingMedia: $('incoming-media'),
  accept: /** @type {HTMLButtonElement} */ ($('accept')),
  decline: /** @type {HTMLButtonElement} */ ($('decline')),
  calling: $('calling'),
  callingTitle: $('calling-title'),
  cancel: /** @type {HTMLButtonElement} */ ($('cancel-call')),
}, {
  onJoin: (ticket) => joinCall(ticket),
  openChat: (conversation, opener) => {
    if (!homeClient) return;
    chatPanel.attach(homeClient, conversation).catch((err) => console.warn('chat history', err));
    chatPanel.setOpen(true, true, opener);
  },
});

/** @param {State} state @param {string} message */
function setState(state, message) {
  document.body.dataset.state = state;
  statusLine.textContent = message;
  const inCall = state === 'joining' || state === 'joined';
  joinButton.disabled = inCall;
  nameInput.disabled = inCall;
  roomInput.disabled = inCall;
  leaveButton.disabled = !inCall;
  const wasInCall = !call.hidden;
  lobby.hidden = inCall || Boolean(homeToken);
  homeSection.hidden = inCall || !homeToken;
  call.hidden = !inCall;
  // Keyboard and screen reader users land where the new screen starts.
  if (inCall && !wasInCall) leaveButton.focus();
  if (!inCall && wasInCall) (homeToken ? $('start-identity') : nameInput).focus();
  if (!inCall) showBanner(null);
}

/** @param {string | null} text */
function showBanner(text) {
  banner.hidden = !text;
  banner.textContent = text ?? '';
  document.body.dataset.connection = text ? 'reconnecting' : 'ok';
}

// The call controls are one toolbar: a single Tab stop, arrow keys between its buttons (the
// WAI-ARIA toolbar pattern), so Tab gets from the tiles past the controls in one step.
const toolbar = /** @type {HTMLElement} */ (document.querySelector('.controls'));
const toolbarButtons = () => /** @type {HTMLButtonElement[]} */ ([...toolbar.querySelectorAll('button')]);

/** @param {HTMLButtonElement | null} active */
function rove(active) {
  const enabled = toolbarButtons().filter((b) => !b.disabled);
  const current = active && enabled.includes(active) ? active : enabled.find((b) => b.tabIndex === 0) ?? enabled[0];
  for (const b of toolbarButtons()) b.tabIndex = b === current ? 0 : -1;
}

toolbar.addEventListener('focusin', (ev) => rove(/** @type {HTMLButtonElement} */ (ev.target)));
toolbar.addEventListener('keydown', (ev) => {
  const enabled = toolbarButtons().filter((b) => !b.disabled);
  const i = enabled.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
  const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: enabled.length - 1 }[ev.key];
  if (to === undefined || i < 0) return;
  ev.preventDefault();
  enabled[(to + enabled.length) % enabled.length]?.focus();
});

function syncControls() {
  const c = client;
  const has = (/** @type {string} */ source) => Boolean(c?.localTracks.some((t) => t.source === source));
  micButton.disabled = !has('microphone');
  cameraButton.disabled = !has('camera');
  screenButton.disabled = !c || !navigator.mediaDevices?.getDisplayMedia;
  const micMuted = c?.isMuted('microphone') ?? false;
  const cameraOff = c?.isMuted('camera') ?? false;
  micButton.setAttribute('aria-pressed', String(micMuted));
  cameraButton.setAttribute('aria-pressed', String(cameraOff));
  screenButton.setAttribute('aria-pressed', String(has('screen')));
  tiles.setBadge(tiles.self, 'mic', micMuted);
  tiles.self.classList.toggle('video-off', cameraOff || !has('camera'));
  rove(null); // a disabled button cannot be the toolbar's Tab stop
}

function clearRoom() {
  tiles.clear();
  chatPanel.detach();
  localStream?.getTracks().forEach((t) => t.stop());
  screenStream?.getTracks().forEach((t) => t.stop());
  localStream = null;
  screenStream = null;
  localVideo.srcObject = null;
  syncControls();
}

/** @param {HTMLMediaElement} el @param {MediaStreamTrack} track @param {boolean} add */
function setTrack(el, track, add) {
  const stream = /** @type {MediaStream} */ (el.srcObject ?? new MediaStream());
  if (add) stream.addTrack(track);
  else stream.removeTrack(track);
  // Re-assigning makes the element pick up the changed track set.
  el.srcObject = stream.getTracks().length ? stream : null;
  if (add) el.play().catch(() => {});
}

/** @param {ParleyClient} c */
function wire(c) {
  c.on('participantJoined', (p) => {
    tiles.participant(p);
    chatPanel.setName(p.identity, p.name || p.identity);
  });
  c.on('participantLeft', (p) => tiles.removeParticipant(p));
  c.on('trackSubscribed', ({ participant, track, mediaTrack }) => {
    // A screen's sound plays from its owner's tile: one audio element per person is enough.
    const screen = track.source === 'screen';
    const tile = screen ? tiles.screen(participant, track) : tiles.participant(participant);
    const el = /** @type {HTMLMediaElement | null} */ (tile.querySelector(mediaTrack.kind === 'video' ? 'video' : 'audio'));
    if (!el) return;
    setTrack(el, mediaTrack, true);
    if (el instanceof HTMLVideoElement) c.observeVideo(track.sid, el);
    tiles.setMuted(participant, track);
  });
  c.on('trackUnsubscribed', ({ participant, track, mediaTrack }) => {
    if (track.source === 'screen') return tiles.remove(`screen:${track.sid}`);
    const el = tiles.find(participant.sid)?.querySelector(mediaTrack.kind === 'video' ? 'video' : 'audio');
    if (el) setTrack(/** @type {HTMLMediaElement} */ (el), mediaTrack, false);
  });
  c.on('trackMuted', ({ participant, track, local }) => {
    if (!local) tiles.setMuted(participant, track);
  });
  c.on('activeSpeakers', (speakers) => tiles.setSpeaking(new Set(speakers.map((s) => s.sid)), c.you?.sid));
  c.on('connectionQuality', ({ participant, local, level, metrics }) => {
    tiles.setQuality(local ? tiles.self : tiles.find(participant), level, metrics);
  });
  c.on('reconnecting', ({ attempt }) => {
    showBanner('Reconnecting…');
    tiles.setSpeaking(new Set()); // nobody is heard while we are away
    statusLine.textContent = attempt > 1 ? `Connection lost; reconnect attempt ${attempt}` : 'Connection lost';
  });
  c.on('reconnected', () => {
    showBanner(null);
    statusLine.textContent = `Reconnected to ${c.room}`;
    tiles.self.dataset.sid = c.you?.sid ?? '';
    syncControls();
  });
  c.on('error', (err) => {
    statusLine.textContent = `Error: ${err.message}`;
    console.error('parley error', err);
  });
  c.on('disconnected', ({ code, reason }) => {
    const message = `Disconnected from the server (${code}${reason ? `: ${reason}` : ''})`;
    if (c === homeClient) {
      // The signed-in connection gave up: nothing on this page works any more.
      homeClient = null;
      if (client === c) client = null;
      clearRoom();
      setState('error', `${message}; reload the page to sign in again`);
      return;
    }
    if (client !== c) return; // we left on purpose
    client = null;
    clearRoom();
    setState('error', message);
    devices.start();
  });
}

async function join() {
  const name = nameInput.value.trim();
  const room = roomInput.value.trim();
  if (!name || !room) return;
  setState('joining', 'Starting camera and microphone…');
  try {
    const media = await devices.take();
    if (document.body.dataset.state !== 'joining') return media?.getTracks().forEach((t) => t.stop());
    localStream = media;
    localVideo.srcObject = localStream;
    setState('joining', `Joining ${room}…`);
    const grant = inviteToken ? { token: inviteToken, room } : await ParleyClient.guestToken(location.origin, name, room);
    const c = new ParleyClient();
    client = c;
    // Tests and the browser console inspect the live client.
    /** @type {any} */ (window).parleyClient = c;
    wire(c);
    // Reconnects reuse this token; only if the server refuses it (say, it restarted with a new
    // secret) is a fresh guest token fetched (an invitation is all there is).
    let first = /** @type {string | null} */ (grant.token);
    await c.connect(location.origin, async () => {
      const token = first ?? inviteToken ?? (await ParleyClient.guestToken(location.origin, name, room)).token;
      first = null;
      return token;
    });
    await c.join(grant.room);
    await inRoom(c, c.conversation, `In ${grant.room} as ${c.name ?? name}`);
  } catch (err) {
    if (document.body.dataset.state !== 'joining') return; // failed because we left
    const c = client;
    client = null;
    c?.disconnect();
    clearRoom();
    const code = /** @type {any} */ (err)?.code;
    setState('error', `Could not join: ${err instanceof Error ? err.message : err}${code ? ` (${code})` : ''}`);
    console.error(err);
    devices.start();
  }
}

/**
 * Joined: show the room, its chat, and publish.
 * @param {ParleyClient} c @param {string | null} conversation the chat beside the call @param {string} status
 */
async function inRoom(c, conversation, status) {
  tiles.self.dataset.sid = c.you?.sid ?? '';
  tiles.self.querySelector('.name')?.replaceChildren(`You (${c.name ?? c.identity})`);
  chatPanel.attach(c, conversation).catch((err) => console.warn('chat history', err));
  if (localStream) await c.publish(localStream);
  if (client !== c) return; // Leave was clicked while joining
  syncControls();
  setState('joined', status);
}

/**
 * Go into a call from the home screen (accepted, or our invitation was): the signed-in
 * connection joins the call's room with the token the server minted for it.
 * @param {import('../sdk/parley.js').CallTicket} ticket
 */
async function joinCall(ticket) {
  const c = homeClient;
  if (!c || client) return;
  client = c;
  setState('joining', 'Starting camera and microphone…');
  try {
    const media = await devices.take();
    if (ticket.invitation.media === 'audio') {
      for (const t of media?.getVideoTracks() ?? []) {
        t.stop();
        media?.removeTrack(t);
      }
    }
    localStream = media;
    localVideo.srcObject = localStream;
    await c.join(ticket.room, { token: ticket.token });
    // A call from a conversation chats in that conversation, where its call notices are too.
    await inRoom(c, ticket.invitation.conversation, `In a call from ${ticket.invitation.caller === c.identity ? 'you' : ticket.invitation.caller}`);
  } catch (err) {
    client = null;
    clearRoom();
    setState('error', `Could not join the call: ${err instanceof Error ? err.message : err}`);
  }
}

async function leave() {
  const c = client;
  client = null;
  // Remove the room from view at once; the server round trip is only a courtesy.
  clearRoom();
  setState('left', 'You left the room');
  if (c && c === homeClient) {
    // Back home: the connection stays for chat and the next call.
    await c.leave().catch((err) => console.warn('leave failed', err));
    home.refresh().catch(() => {});
    return;
  }
  devices.start();
  try {
    await c?.leave();
  } catch (err) {
    console.warn('leave failed', err);
  }
  c?.disconnect();
}

/** @param {'microphone' | 'camera'} source */
async function toggleMute(source) {
  const c = client;
  if (!c) return;
  const done = c.setMuted(source, !c.isMuted(source));
  // The SDK records the new state at once; the buttons follow it before the media catches up.
  syncControls();
  try {
    await done;
  } catch (err) {
    statusLine.textContent = `Could not change the ${source}: ${err instanceof Error ? err.message : err}`;
  }
  syncControls();
}

async function toggleScreen() {
  const c = client;
  if (!c) return;
  try {
    if (c.localTracks.some((t) => t.source === 'screen')) {
      await c.unpublishTrack('screen');
      screenStream = null;
      tiles.ownScreen(null);
    } else {
      const stream = await c.publishScreen();
      screenStream = stream;
      tiles.ownScreen(stream);
      // The browser's own "Stop sharing" ends the track; the SDK unpublishes it.
      stream.getVideoTracks()[0]?.addEventListener('ended', () => {
        if (screenStream === stream) screenStream = null;
        tiles.ownScreen(null);
        syncControls();
      });
    }
  } catch (err) {
    // Picking nothing in the browser's dialog is not worth an error.
    if (!(err instanceof DOMException && err.name === 'NotAllowedError')) {
      statusLine.textContent = `Screen sharing failed: ${err instanceof Error ? err.message : err}`;
    }
  }
  syncControls();
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  join();
});
leaveButton.addEventListener('click', () => leave());
micButton.addEventListener('click', () => toggleMute('microphone'));
cameraButton.addEventListener('click', () => toggleMute('camera'));
screenButton.addEventListener('click', () => toggleScreen());
setState('idle', '');
if (homeToken) startHome(homeToken);
else devices.start();

/** @param {string} token */
async function startHome(token) {
  const c = new ParleyClient();
  homeClient = c;
  /** @type {any} */ (window).parleyClient = c;
  wire(c);
  try {
    await c.connect(location.origin, token);
    await home.start(c);
    statusLine.textContent = `Connected as ${c.name ?? c.identity}`;
  } catch (err) {
    statusLine.textContent = `Could not connect: ${err instanceof Error ? err.message : err}`;
  }
}
