import { ParleyClient } from '/sdk/parley.js';

/** @typedef {import('/sdk/parley.js').ParticipantInfo} ParticipantInfo */
/** @typedef {'idle' | 'joining' | 'joined' | 'left' | 'error'} State */

const form = /** @type {HTMLFormElement} */ (document.getElementById('join-form'));
const nameInput = /** @type {HTMLInputElement} */ (document.getElementById('name'));
const roomInput = /** @type {HTMLInputElement} */ (document.getElementById('room'));
const joinButton = /** @type {HTMLButtonElement} */ (document.getElementById('join'));
const leaveButton = /** @type {HTMLButtonElement} */ (document.getElementById('leave'));
const statusLine = /** @type {HTMLElement} */ (document.getElementById('status'));
const localVideo = /** @type {HTMLVideoElement} */ (document.getElementById('local-video'));
const tiles = /** @type {HTMLElement} */ (document.getElementById('tiles'));

/** @type {ParleyClient | null} */
let client = null;
/** @type {MediaStream | null} */
let localStream = null;

roomInput.value ||= new URLSearchParams(location.search).get('room') ?? '';

/** @param {State} state @param {string} message */
function setState(state, message) {
  document.body.dataset.state = state;
  statusLine.textContent = message;
  const busy = state === 'joining' || state === 'joined';
  joinButton.disabled = busy;
  nameInput.disabled = busy;
  roomInput.disabled = busy;
  leaveButton.disabled = !busy;
}

/** @param {string} sid */
function findTile(sid) {
  return /** @type {HTMLElement | null} */ (tiles.querySelector(`.tile[data-sid="${CSS.escape(sid)}"]`));
}

/** @param {ParticipantInfo} p */
function ensureTile(p) {
  const existing = findTile(p.sid);
  if (existing) return existing;
  const tile = document.createElement('div');
  tile.className = 'tile';
  tile.dataset.sid = p.sid;
  tile.dataset.identity = p.identity;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  // Sound goes through the <audio> element: a muted video may always autoplay.
  video.muted = true;
  const audio = document.createElement('audio');
  audio.autoplay = true;
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = p.name || p.identity;
  tile.append(video, audio, name);
  tiles.append(tile);
  return tile;
}

// Each remote video tells the server what it needs: its rendered size in device pixels, or
// nothing while it cannot be seen. The server then forwards the simulcast layer that fits.
/** @typedef {{client: ParleyClient, video: HTMLVideoElement, onScreen: boolean, sent: string, timer?: number}} Watch */
/** Remote videos by track sid. @type {Map<string, Watch>} */
const watched = new Map();
const resizes = new ResizeObserver((entries) => entries.forEach((e) => changed(e.target)));
const intersections = new IntersectionObserver((entries) => {
  for (const e of entries) changed(e.target, e.isIntersecting);
});

/** @param {Element} video @param {boolean} [onScreen] */
function changed(video, onScreen) {
  for (const [sid, w] of watched) {
    if (w.video !== video) continue;
    if (onScreen !== undefined) w.onScreen = onScreen;
    // Layouts settle in bursts (resizing a window): report once they have.
    clearTimeout(w.timer);
    w.timer = setTimeout(() => report(sid, w), 250);
  }
}

/** @param {string} sid @param {Watch} w */
function report(sid, w) {
  const width = Math.round(w.video.clientWidth * devicePixelRatio);
  const height = Math.round(w.video.clientHeight * devicePixelRatio);
  // Zero size: display:none, or not in the document any more.
  const want = w.onScreen && width > 0 && height > 0 ? { width, height } : { paused: true };
  const key = JSON.stringify(want);
  if (key === w.sent) return;
  w.sent = key;
  w.client.setSubscription(sid, want).catch((err) => {
    if (watched.get(sid) === w) w.sent = ''; // let the next change try again
    console.warn('update_subscription failed', err);
  });
}

/** @param {ParleyClient} c @param {string} sid @param {HTMLVideoElement} video */
function watch(c, sid, video) {
  unwatch(sid);
  watched.set(sid, { client: c, video, onScreen: true, sent: '' });
  // Both observers report the current state right away, which sends the first size.
  resizes.observe(video);
  intersections.observe(video);
}

/** @param {string} sid */
function unwatch(sid) {
  const w = watched.get(sid);
  if (!w) return;
  clearTimeout(w.timer);
  watched.delete(sid);
  if ([...watched.values()].some((o) => o.video === w.video)) return;
  resizes.unobserve(w.video);
  intersections.unobserve(w.video);
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

function clearRoom() {
  [...watched.keys()].forEach(unwatch);
  tiles.replaceChildren();
  localStream?.getTracks().forEach((t) => t.stop());
  localStream = null;
  localVideo.srcObject = null;
}

/** @param {ParleyClient} c */
function wire(c) {
  c.on('participantJoined', (p) => ensureTile(p));
  c.on('participantLeft', (p) => findTile(p.sid)?.remove());
  c.on('trackSubscribed', ({ participant, track, mediaTrack }) => {
    const tile = ensureTile(participant);
    const el = tile.querySelector(mediaTrack.kind === 'video' ? 'video' : 'audio');
    if (!el) return;
    setTrack(/** @type {HTMLMediaElement} */ (el), mediaTrack, true);
    if (el instanceof HTMLVideoElement) watch(c, track.sid, el);
  });
  c.on('trackUnsubscribed', ({ participant, track, mediaTrack }) => {
    unwatch(track.sid);
    const el = findTile(participant.sid)?.querySelector(mediaTrack.kind === 'video' ? 'video' : 'audio');
    if (el) setTrack(/** @type {HTMLMediaElement} */ (el), mediaTrack, false);
  });
  c.on('activeSpeakers', (speakers) => {
    const speaking = new Set(speakers.map((s) => s.sid));
    for (const tile of tiles.querySelectorAll('.tile')) {
      const on = speaking.has(/** @type {HTMLElement} */ (tile).dataset.sid ?? '');
      tile.classList.toggle('speaking', on);
      // Announced politely so screen readers hear who took the floor without interruptions.
      tile.setAttribute('aria-label', `${tile.querySelector('.name')?.textContent ?? ''}${on ? ', speaking' : ''}`);
    }
  });
  c.on('error', (err) => {
    statusLine.textContent = `Error: ${err.message}`;
    console.error('parley error', err);
  });
  c.on('disconnected', ({ code, reason }) => {
    if (client !== c) return; // we left on purpose
    client = null;
    clearRoom();
    setState('error', `Disconnected from the server (${code}${reason ? `: ${reason}` : ''})`);
  });
}

async function join() {
  const name = nameInput.value.trim();
  const room = roomInput.value.trim();
  if (!name || !room) return;
  setState('joining', 'Starting camera and microphone…');
  try {
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
    if (document.body.dataset.state !== 'joining') return media.getTracks().forEach((t) => t.stop());
    localStream = media;
    localVideo.srcObject = localStream;
    setState('joining', `Joining ${room}…`);
    const grant = await ParleyClient.guestToken(location.origin, name, room);
    const c = new ParleyClient();
    client = c;
    window.parleyClient = c;
    wire(c);
    await c.connect(location.origin, grant.token);
    const { participants } = await c.join(grant.room);
    participants.forEach(ensureTile);
    await c.publish(localStream);
    if (client !== c) return; // Leave was clicked while joining
    setState('joined', `In ${grant.room} as ${c.name ?? name}`);
  } catch (err) {
    if (document.body.dataset.state !== 'joining') return; // failed because we left
    const c = client;
    client = null;
    c?.disconnect();
    clearRoom();
    const code = /** @type {any} */ (err)?.code;
    setState('error', `Could not join: ${err instanceof Error ? err.message : err}${code ? ` (${code})` : ''}`);
    console.error(err);
  }
}

async function leave() {
  const c = client;
  client = null;
  // Remove the room from view at once; the server round trip is only a courtesy.
  clearRoom();
  setState('left', 'You left the room');
  try {
    await c?.leave();
  } catch (err) {
    console.warn('leave failed', err);
  }
  c?.disconnect();
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  join();
});
leaveButton.addEventListener('click', () => leave());
setState('idle', '');
