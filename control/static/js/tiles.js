/**
 * tiles.js — the video stage: one tile per participant (camera) plus one per screen share,
 * laid out by {@link computeLayout} (pure) and positioned absolutely, so tiles never move in
 * the DOM (moving a playing <video> can pause it) and re-layout is only a style change.
 *
 * Layouts: alone -> yourself large; 1:1 -> the other person large, yourself small in a corner;
 * groups -> a grid sized to the screen; a screen share or a pinned tile -> large, the rest in a
 * strip (right on landscape screens, bottom on portrait phones).
 * @module tiles
 */

const GAP = 6;

/**
 * @typedef {object} TileSpec
 * @property {string} key
 * @property {'camera'|'screen'} kind
 * @property {boolean} self
 */

/** @typedef {{x: number, y: number, w: number, h: number, small: boolean}} Rect */

/**
 * Where every tile goes.
 * @param {TileSpec[]} tiles in display order
 * @param {string|null} pinned key of a tile the user enlarged
 * @param {number} width stage width (px)
 * @param {number} height stage height (px)
 * @returns {{mode: 'empty'|'solo'|'one-to-one'|'grid'|'focus', rects: Map<string, Rect>}}
 */
export function computeLayout(tiles, pinned, width, height) {
  /** @type {Map<string, Rect>} */
  const rects = new Map();
  if (!tiles.length) return { mode: 'empty', rects };
  const screens = tiles.filter((t) => t.kind === 'screen');
  const main = tiles.find((t) => t.key === pinned) || screens[0] || null;
  if (main && tiles.length > 1) {
    layoutFocus(main, tiles.filter((t) => t !== main), width, height, rects);
    return { mode: 'focus', rects };
  }
  if (tiles.length === 1) {
    rects.set(tiles[0].key, { x: 0, y: 0, w: width, h: height, small: false });
    return { mode: 'solo', rects };
  }
  const others = tiles.filter((t) => !t.self);
  const self = tiles.find((t) => t.self);
  if (tiles.length === 2 && self && others.length === 1) {
    rects.set(others[0].key, { x: 0, y: 0, w: width, h: height, small: false });
    const portrait = height > width;
    const w = Math.round(Math.max(96, Math.min(width * (portrait ? 0.3 : 0.22), 280)));
    const h = Math.round(portrait ? w * 4 / 3 : w * 3 / 4);
    const margin = 12;
    rects.set(self.key, { x: width - w - margin, y: height - h - margin, w, h, small: true });
    return { mode: 'one-to-one', rects };
  }
  layoutGrid(tiles, 0, 0, width, height, rects);
  return { mode: 'grid', rects };
}

/**
 * Columns that make grid tiles (16:9) as large as possible.
 * @param {number} n  tiles
 * @param {number} width
 * @param {number} height
 * @param {number} [aspect=16/9]
 * @returns {number}
 */
export function bestColumns(n, width, height, aspect = 16 / 9) {
  let best = 1;
  let bestSize = 0;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = (width - GAP * (cols - 1)) / cols;
    const h = (height - GAP * (rows - 1)) / rows;
    const size = Math.min(w, h * aspect);
    if (size > bestSize) {
      bestSize = size;
      best = cols;
    }
  }
  return best;
}

/**
 * @param {TileSpec[]} tiles
 * @param {number} x0
 * @param {number} y0
 * @param {number} width
 * @param {number} height
 * @param {Map<string, Rect>} rects  filled in
 */
function layoutGrid(tiles, x0, y0, width, height, rects) {
  const n = tiles.length;
  const cols = bestColumns(n, width, height);
  const rows = Math.ceil(n / cols);
  const w = (width - GAP * (cols - 1)) / cols;
  const h = (height - GAP * (rows - 1)) / rows;
  tiles.forEach((t, i) => {
    const row = Math.floor(i / cols);
    const inRow = row === rows - 1 ? n - row * cols : cols;
    const offset = (width - (inRow * w + (inRow - 1) * GAP)) / 2; // centre a short last row
    const col = i % cols;
    rects.set(t.key, { x: Math.round(x0 + offset + col * (w + GAP)), y: Math.round(y0 + row * (h + GAP)), w: Math.round(w), h: Math.round(h), small: false });
  });
}

/**
 * @param {TileSpec} main  the large tile
 * @param {TileSpec[]} rest  the strip
 * @param {number} width
 * @param {number} height
 * @param {Map<string, Rect>} rects  filled in
 */
function layoutFocus(main, rest, width, height, rects) {
  const landscape = width >= height;
  const thickness = landscape ? Math.max(120, Math.min(260, width * 0.2)) : Math.max(90, Math.min(200, height * 0.2));
  if (!rest.length) {
    rects.set(main.key, { x: 0, y: 0, w: width, h: height, small: false });
    return;
  }
  if (landscape) {
    rects.set(main.key, { x: 0, y: 0, w: Math.round(width - thickness - GAP), h: height, small: false });
    const h = Math.min(thickness * 3 / 4, (height - GAP * (rest.length - 1)) / rest.length);
    rest.forEach((t, i) => rects.set(t.key, { x: Math.round(width - thickness), y: Math.round(i * (h + GAP)), w: Math.round(thickness), h: Math.round(h), small: true }));
  } else {
    rects.set(main.key, { x: 0, y: 0, w: width, h: Math.round(height - thickness - GAP), small: false });
    const w = Math.min(thickness * 4 / 3, (width - GAP * (rest.length - 1)) / rest.length);
    rest.forEach((t, i) => rects.set(t.key, { x: Math.round(i * (w + GAP)), y: Math.round(height - thickness), w: Math.round(w), h: Math.round(thickness), small: true }));
  }
}

/** @param {string} name */
function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

/** One tile: a <video>, a name label, mute indicators, an avatar when there is no video. */
class Tile {
  /**
   * @param {string} key
   * @param {{kind: 'camera'|'screen', self: boolean, name: string, participantId?: string}} spec
   */
  constructor(key, { kind, self, name, participantId }) {
    this.key = key;
    this.kind = kind;
    this.self = self;
    this.participantId = participantId;
    this.el = document.createElement('div');
    this.el.className = `tile tile-${kind}${self ? ' tile-self' : ''}`;
    this.el.dataset.key = key;
    if (participantId) this.el.dataset.participant = participantId;
    this.el.tabIndex = 0;
    this.video = document.createElement('video');
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true; // audio plays through separate <audio> elements
    this.video.setAttribute('playsinline', '');
    this.avatar = document.createElement('div');
    this.avatar.className = 'tile-avatar';
    this.label = document.createElement('div');
    this.label.className = 'tile-label';
    this.micIcon = document.createElement('span');
    this.micIcon.className = 'tile-mic-off';
    this.micIcon.title = 'Microphone off';
    this.micIcon.textContent = '🔇';
    this.nameEl = document.createElement('span');
    this.nameEl.className = 'tile-name';
    this.label.append(this.micIcon, this.nameEl);
    this.notice = document.createElement('div');
    this.notice.className = 'tile-notice';
    this.el.append(this.video, this.avatar, this.label, this.notice);
    this.setName(name);
    this.setVideo(null);
    this.setAudioMuted(false);
    this.setNotice(null);
  }

  /** @param {string} name */
  setName(name) {
    this.name = name;
    const suffix = this.kind === 'screen' ? ' — screen' : this.self ? ' (you)' : '';
    this.nameEl.textContent = `${name}${suffix}`;
    this.avatar.textContent = initials(name);
  }

  /** @param {MediaStream|null} stream */
  setVideo(stream) {
    if (this.video.srcObject !== stream) {
      this.video.srcObject = stream;
      if (stream) this.video.play().catch(() => {});
    }
    this.hasVideo = !!stream;
    this._updateVideoShown();
  }

  /** @param {boolean} muted */
  setVideoMuted(muted) {
    this.videoMuted = !!muted;
    this._updateVideoShown();
  }

  _updateVideoShown() {
    const shown = this.hasVideo && !this.videoMuted;
    this.el.classList.toggle('no-video', !shown);
  }

  /** @param {boolean} muted */
  setAudioMuted(muted) {
    this.el.classList.toggle('mic-off', !!muted);
  }

  /** @param {string|null} text */
  setNotice(text) {
    this.notice.textContent = text || '';
    this.el.classList.toggle('has-notice', !!text);
  }
}

/** The stage holding every tile; re-lays itself out when tiles come and go or it resizes. */
export class Stage {
  /**
   * @param {HTMLElement} root
   * @param {{onLayout?: (mode: string) => void}} [options]
   */
  constructor(root, { onLayout = () => {} } = {}) {
    this.root = root;
    this.tiles = new Map();
    /** @type {string|null} */
    this.pinned = null;
    this.onLayout = onLayout;
    this.mode = 'empty';
    this.root.addEventListener('click', (ev) => {
      const el = /** @type {HTMLElement|null} */ (/** @type {Element} */ (ev.target).closest('.tile'));
      if (!el) return;
      const key = /** @type {string} */ (el.dataset.key); // every tile has one
      this.pin(this.pinned === key ? null : key);
    });
    if (window.ResizeObserver) new ResizeObserver(() => this.layout()).observe(root);
    else window.addEventListener('resize', () => this.layout());
  }

  /**
   * Create the tile if needed and return it.
   * @param {string} key
   * @param {{kind: 'camera'|'screen', self?: boolean, name: string, participantId?: string}} spec
   */
  upsert(key, spec) {
    let tile = this.tiles.get(key);
    if (!tile) {
      tile = new Tile(key, { self: false, ...spec });
      this.tiles.set(key, tile);
      this.root.appendChild(tile.el);
      this.layout();
    } else if (spec.name && spec.name !== tile.name) {
      tile.setName(spec.name);
    }
    return tile;
  }

  /**
   * @param {string} key
   * @returns {Tile|null}
   */
  get(key) {
    return this.tiles.get(key) || null;
  }

  /** @param {string} key */
  remove(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.el.remove();
    this.tiles.delete(key);
    if (this.pinned === key) this.pinned = null;
    this.layout();
  }

  /** @param {string|null} key  a tile to enlarge, or null */
  pin(key) {
    this.pinned = key;
    this.layout();
  }

  /** Order: remote cameras by arrival, screens, then yourself. */
  _ordered() {
    const all = [...this.tiles.values()];
    return [
      ...all.filter((t) => t.kind === 'screen'),
      ...all.filter((t) => t.kind === 'camera' && !t.self),
      ...all.filter((t) => t.self),
    ];
  }

  layout() {
    const width = this.root.clientWidth;
    const height = this.root.clientHeight;
    const ordered = this._ordered();
    const { mode, rects } = computeLayout(ordered.map((t) => ({ key: t.key, kind: t.kind, self: t.self })), this.pinned, width, height);
    this.mode = mode;
    this.root.dataset.layout = mode;
    for (const tile of ordered) {
      const r = rects.get(tile.key);
      if (!r) continue;
      Object.assign(tile.el.style, { left: `${r.x}px`, top: `${r.y}px`, width: `${r.w}px`, height: `${r.h}px` });
      tile.el.classList.toggle('small', r.small);
      tile.el.classList.toggle('pinned', tile.key === this.pinned);
    }
    this.onLayout(mode);
  }

  /** The video of the most prominent remote tile (for picture-in-picture). */
  mainRemoteVideo() {
    let best = null;
    for (const tile of this.tiles.values()) {
      if (tile.self || !tile.hasVideo) continue;
      const area = tile.el.clientWidth * tile.el.clientHeight;
      if (!best || area > best.area) best = { area, video: tile.video };
    }
    return best ? best.video : null;
  }
}
