// The call's tiles: one per participant (camera and microphone), one per shared screen, and this
// user's own. Layout, pinning, speaking, muted and connection-quality badges live here; media
// and subscriptions stay with the SDK.

/** @typedef {import('../sdk/parley.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('../sdk/parley.js').TrackInfo} TrackInfo */
/** @typedef {import('../sdk/parley.js').QualityLevel} QualityLevel */
/** @typedef {import('../sdk/parley.js').QualityMetrics} QualityMetrics */

const QUALITY_TEXT = { excellent: 'excellent', good: 'good', poor: 'poor', lost: 'lost' };

const MIC_OFF_ICON = '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">'
  + '<path fill="currentColor" d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z"/>'
  + '<path stroke="currentColor" stroke-width="2" d="M4 4l16 16"/></svg>';

export class Tiles {
  #stage;
  #remote;
  #self;
  /** Key of the pinned tile (a participant sid, or `screen:` + track sid). @type {string | null} */
  #pinned = null;
  /** This user's own shared screen, so they see what the others see. @type {HTMLElement | null} */
  #ownScreen = null;

  /**
   * @param {HTMLElement} stage the grid
   * @param {HTMLElement} remote where other people's tiles go (inside `stage`)
   * @param {HTMLElement} self this user's tile (inside `stage`)
   */
  constructor(stage, remote, self) {
    this.#stage = stage;
    this.#remote = remote;
    this.#self = self;
    decorate(self, 'You');
    this.layout();
  }

  get self() { return this.#self; }

  /** @param {string} key */
  find(key) {
    return /** @type {HTMLElement | null} */ (this.#remote.querySelector(`.tile[data-key="${CSS.escape(key)}"]`));
  }

  /** The camera tile of a participant, created on first use. @param {ParticipantInfo} p */
  participant(p) {
    const existing = this.find(p.sid);
    if (existing) return existing;
    const tile = this.#create(p.sid, p.name || p.identity);
    tile.dataset.sid = p.sid;
    tile.dataset.identity = p.identity;
    this.#remote.append(tile);
    for (const t of p.tracks) this.setMuted(p, t);
    this.layout();
    return tile;
  }

  /**
   * A shared screen gets a tile of its own, so it can be pinned and sized apart from the camera.
   * @param {ParticipantInfo} p @param {TrackInfo} track
   */
  screen(p, track) {
    const key = `screen:${track.sid}`;
    const existing = this.find(key);
    if (existing) return existing;
    const tile = this.#create(key, `${p.name || p.identity}'s screen`);
    tile.classList.add('screen');
    tile.dataset.screenOf = p.identity;
    tile.dataset.owner = p.sid;
    tile.dataset.track = track.sid;
    // Next to its owner's camera tile.
    const owner = this.find(p.sid);
    if (owner) owner.after(tile);
    else this.#remote.append(tile);
    this.layout();
    return tile;
  }

  /** @param {string} key */
  remove(key) {
    this.find(key)?.remove();
    if (this.#pinned === key) this.#pinned = null;
    this.layout();
  }

  /** @param {ParticipantInfo} p */
  removeParticipant(p) {
    const sid = CSS.escape(p.sid);
    for (const tile of this.#remote.querySelectorAll(`.tile[data-sid="${sid}"], .tile.screen[data-owner="${sid}"]`)) {
      this.remove(/** @type {HTMLElement} */ (tile).dataset.key ?? '');
    }
  }

  clear() {
    this.ownScreen(null);
    this.#remote.replaceChildren();
    this.#pinned = null;
    this.setQuality(this.#self, null, null);
    this.setBadge(this.#self, 'mic', false);
    this.#self.classList.remove('video-off', 'speaking');
    this.layout();
  }

  /** @param {string} key @param {string} label */
  #create(key, label) {
    const tile = document.createElement('div');
    tile.className = 'tile';
    tile.dataset.key = key;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    // Sound goes through the <audio> element: a muted video may always autoplay.
    video.muted = true;
    const audio = document.createElement('audio');
    audio.autoplay = true;
    tile.append(video, audio);
    decorate(tile, label);
    const pin = document.createElement('button');
    pin.type = 'button';
    pin.className = 'pin';
    pin.textContent = 'Pin';
    pin.setAttribute('aria-label', `Pin ${label}`);
    pin.setAttribute('aria-pressed', 'false');
    pin.addEventListener('click', () => this.pin(this.#pinned === key ? null : key));
    tile.append(pin);
    return tile;
  }

  /**
   * Show one tile large; the others line up beside it. The large video reports its new size
   * through the SDK's `observeVideo`, so the server sends it the top simulcast layer.
   * @param {string | null} key
   */
  pin(key) {
    this.#pinned = key && this.find(key) ? key : null;
    for (const tile of this.#remote.querySelectorAll('.tile')) {
      const on = /** @type {HTMLElement} */ (tile).dataset.key === this.#pinned;
      tile.classList.toggle('pinned', on);
      tile.querySelector('.pin')?.setAttribute('aria-pressed', String(on));
      const pin = tile.querySelector('.pin');
      if (pin) pin.textContent = on ? 'Unpin' : 'Pin';
    }
    this.layout();
  }

  get pinned() { return this.#pinned; }

  /** Show (or with null, remove) this user's shared screen. @param {MediaStream | null} stream */
  ownScreen(stream) {
    this.#ownScreen?.remove();
    this.#ownScreen = null;
    if (stream) {
      const tile = document.createElement('div');
      tile.className = 'tile screen own';
      const video = document.createElement('video');
      video.autoplay = true;
      video.playsInline = true;
      video.muted = true;
      video.srcObject = stream;
      tile.append(video);
      decorate(tile, 'Your screen');
      this.#self.after(tile);
      this.#ownScreen = tile;
    }
    this.layout();
  }

  layout() {
    const count = this.#remote.querySelectorAll('.tile').length + (this.#ownScreen ? 2 : 1);
    this.#stage.dataset.count = String(count);
    this.#stage.classList.toggle('has-pinned', this.#pinned !== null);
    // Columns for a grid that stays roughly square as people come and go.
    this.#stage.style.setProperty('--cols', String(Math.min(4, Math.ceil(Math.sqrt(count)))));
  }

  /** @param {Set<string>} speaking participant sids */
  setSpeaking(speaking, selfSid = '') {
    for (const tile of this.#stage.querySelectorAll('.tile:not(.screen)')) {
      const el = /** @type {HTMLElement} */ (tile);
      const sid = el === this.#self ? selfSid : el.dataset.sid ?? '';
      const on = speaking.has(sid);
      el.classList.toggle('speaking', on);
      const name = el.querySelector('.name')?.textContent ?? '';
      // Announced with the tile, so screen readers hear who has the floor.
      el.setAttribute('aria-label', `${name}${on ? ', speaking' : ''}`);
    }
  }

  /** Reflect a remote track's muted state. @param {ParticipantInfo} p @param {TrackInfo} track */
  setMuted(p, track) {
    const tile = this.find(p.sid);
    if (!tile) return;
    if (track.source === 'microphone') this.setBadge(tile, 'mic', Boolean(track.muted));
    if (track.source === 'camera') tile.classList.toggle('video-off', Boolean(track.muted));
  }

  /**
   * @param {HTMLElement} tile
   * @param {'mic'} which
   * @param {boolean} on
   */
  setBadge(tile, which, on) {
    const badge = /** @type {HTMLElement | null} */ (tile.querySelector(`.badge.${which}`));
    if (badge) badge.hidden = !on;
    tile.dataset.micMuted = String(on);
  }

  /**
   * @param {HTMLElement | null} tile
   * @param {QualityLevel | null} level
   * @param {QualityMetrics | null} metrics
   */
  setQuality(tile, level, metrics) {
    const el = /** @type {HTMLElement | null} */ (tile?.querySelector('.quality'));
    if (!tile || !el) return;
    if (!level) {
      el.hidden = true;
      delete tile.dataset.quality;
      return;
    }
    el.hidden = false;
    el.dataset.level = level;
    tile.dataset.quality = level;
    el.setAttribute('aria-label', `Connection ${QUALITY_TEXT[level]}`);
    el.title = metrics ? describe(metrics) : '';
  }
}

/** Name, badges and connection indicator shared by every tile. @param {HTMLElement} tile @param {string} label */
function decorate(tile, label) {
  tile.setAttribute('role', 'group');
  tile.setAttribute('aria-label', label);
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = label;
  const badges = document.createElement('span');
  badges.className = 'badges';
  const mic = document.createElement('span');
  mic.className = 'badge mic';
  mic.setAttribute('role', 'img');
  mic.setAttribute('aria-label', 'Microphone muted');
  mic.innerHTML = MIC_OFF_ICON;
  mic.hidden = true;
  const quality = document.createElement('span');
  quality.className = 'quality';
  quality.setAttribute('role', 'img');
  quality.hidden = true;
  for (let i = 0; i < 3; i++) quality.append(document.createElement('i'));
  badges.append(mic, quality);
  tile.append(name, badges);
}

/** @param {QualityMetrics} m */
function describe(m) {
  const parts = [];
  if (m.packetLoss !== null) parts.push(`loss ${(m.packetLoss * 100).toFixed(1)} %`);
  if (m.rtt !== null) parts.push(`round trip ${Math.round(m.rtt)} ms`);
  if (m.jitter !== null) parts.push(`jitter ${Math.round(m.jitter)} ms`);
  if (m.framesPerSecond !== null) parts.push(`${Math.round(m.framesPerSecond)} fps`);
  return parts.join(', ');
}
