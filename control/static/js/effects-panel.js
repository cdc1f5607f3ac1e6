/**
 * effects-panel.js — background effects on the room page (a room.js extension: `install(room)`).
 *
 * A toolbar button ("Background") opens a menu: Off, Blur (light), Blur (strong), and one
 * thumbnail per image of the organisation (the server's `backgrounds` message). Choosing sends
 * `set_effect` {kind, strength?, image_id?}; the server applies it to this participant's camera
 * for everyone (docs/effects.md). The button is hidden when the room's settings say
 * `background_effects_allowed: false` (the server refuses it anyway, with `policy`).
 *
 * Self view: while an effect is on, the server sends this participant its own camera,
 * processed (a consumer of its own producer). That stream replaces the local camera in the
 * "self" tile, so the publisher sees what the others see; when the effect goes off the tile
 * shows the local camera again. (room.js leaves tracks of `participant.self` to this module.)
 *
 * `effect_previous` (rooms with "ask again"): before going on, the page asks
 * "Use your previous background (blur)?"; yes re-applies it as soon as the camera is published.
 * After a re-join (network drop) the current choice is sent again once the camera is back.
 * Other participants' `effect_state` puts a small badge on their tile.
 *
 * Uses only the client library's generic API: `client.request(type, fields)`,
 * `client.on(type, fn)` for the server's own message types, `track_added`/`track_removed`.
 * @module effects-panel
 */

import { toolbarMenu } from './popover.js';

const ICON = '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><rect x="2" y="4" width="20" height="16" rx="2"/><circle cx="12" cy="11" r="3"/><path d="M6 20c1-3 3.5-4.5 6-4.5s5 1.5 6 4.5"/><path d="M4 8h2M4 12h1M18 8h2M19 12h1" stroke-dasharray="1 2"/></svg>';

/** How a choice reads in a prompt or a badge. */
export function describeChoice(choice, images = []) {
  if (!choice || choice.kind === 'none') return 'no effect';
  if (choice.kind === 'blur') return choice.strength === 'strong' ? 'strong blur' : 'blur';
  const image = images.find((i) => i.image_id === choice.image_id);
  return image ? `the picture “${image.name}”` : 'a background picture';
}

/** Fields of a `set_effect` message for a choice. */
export function effectFields(choice) {
  const fields = { kind: choice.kind };
  if (choice.kind === 'blur') fields.strength = choice.strength || 'light';
  if (choice.kind === 'image') fields.image_id = choice.image_id;
  return fields;
}

const sameChoice = (a, b) => a.kind === b.kind && (a.strength || 'light') === (b.strength || 'light') && (a.image_id || null) === (b.image_id || null);

class EffectsPanel {
  constructor(room) {
    this.room = room;
    this.client = null;
    this.images = [];
    this.current = { kind: 'none' };
    this.pending = null; // a choice to apply once the camera is published
    this.selfStream = null; // the server's processed self view
    this.allowed = true;
    this.toolbarMenu = toolbarMenu(room, {
      buttonId: 'btn-effects',
      label: 'Background',
      buttonHtml: `${ICON}<span class="button-label">Background</span>`,
      menuId: 'effects-menu',
      menuClass: 'effects-menu',
      onOpen: () => this.renderMenu(),
      focus: () => this.menu.querySelector('button'),
    });
    this.button = this.toolbarMenu.button;
    this.menu = this.toolbarMenu.menu;
    this.menu.setAttribute('role', 'menu');
    room.onClient((client) => this.attach(client));
  }

  attach(client) {
    this.client = client;
    client.on('joined', ({ settings }) => {
      this.allowed = !settings || settings.background_effects_allowed !== false;
      this.toolbarMenu.setAllowed(this.allowed);
      // A re-join after a network drop is a new participant for the server: its effect is
      // gone. Apply the current choice again once the camera is published again.
      if (this.allowed && this.current.kind !== 'none') this.pending = this.current;
      this.current = { kind: 'none' };
    });
    // The server made our producers (first publish, or republish after a re-join): a choice
    // that waited for the camera goes out now. ('message' comes after the library's own
    // handling, so the publication's producerId is set.)
    client.on('message', (msg) => {
      if (msg.type !== 'published' || !this.pending) return;
      if ((msg.producers || []).some((p) => p.source === 'camera')) this.choose(this.pending, { quiet: true });
    });
    client.on('backgrounds', (msg) => {
      this.images = Array.isArray(msg.images) ? msg.images : [];
      this.renderMenu();
    });
    client.on('effect_state', (msg) => this.onEffectState(msg));
    client.on('effect_previous', (msg) => this.askPrevious(msg));
    client.on('track_added', (remote) => {
      if (remote.participant && remote.participant.self && remote.source === 'camera') {
        this.selfStream = remote.stream;
        this.showSelfView();
      }
    });
    client.on('track_removed', (remote) => {
      if (remote.participant && remote.participant.self && remote.source === 'camera') {
        this.selfStream = null;
        this.showSelfView();
      }
    });
    // room.js puts the local camera back into the self tile on mute/unmute and republish.
    const reapply = () => queueMicrotask(() => this.showSelfView());
    client.on('track_muted', (ev) => { if (ev.local) reapply(); });
    client.on('local_track_published', ({ publication }) => { if (publication.source === 'camera') reapply(); });
  }

  // ------------------------------------------------------------ menu

  renderMenu() {
    const options = [
      { choice: { kind: 'none' }, label: 'Off' },
      { choice: { kind: 'blur', strength: 'light' }, label: 'Blur (light)' },
      { choice: { kind: 'blur', strength: 'strong' }, label: 'Blur (strong)' },
    ];
    this.menu.replaceChildren();
    const title = document.createElement('div');
    title.className = 'effects-title';
    title.textContent = 'Background';
    const list = document.createElement('div');
    list.className = 'effects-options';
    for (const { choice, label } of options) list.appendChild(this.optionButton(choice, label));
    if (this.images.length) {
      const grid = document.createElement('div');
      grid.className = 'effects-images';
      for (const image of this.images) {
        const button = this.optionButton({ kind: 'image', image_id: image.image_id }, '');
        const img = document.createElement('img');
        img.src = new URL(`../../${image.thumbnail_url}`, import.meta.url).href;
        img.alt = image.name;
        img.loading = 'lazy';
        const caption = document.createElement('span');
        caption.textContent = image.name;
        button.append(img, caption);
        button.title = image.name;
        grid.appendChild(button);
      }
      list.appendChild(grid);
    }
    const hint = document.createElement('p');
    hint.className = 'hint';
    hint.textContent = 'Done on the server: everyone, you included, sees the same picture.';
    this.menu.append(title, list, hint);
  }

  optionButton(choice, label) {
    const button = document.createElement('button');
    button.type = 'button';
    button.setAttribute('role', 'menuitemradio');
    button.setAttribute('aria-checked', String(sameChoice(choice, this.current)));
    button.className = 'effects-option';
    button.dataset.kind = choice.kind;
    if (choice.strength) button.dataset.strength = choice.strength;
    if (choice.image_id) button.dataset.imageId = choice.image_id;
    if (label) button.textContent = label;
    button.addEventListener('click', () => {
      this.toolbarMenu.close();
      this.choose(choice);
    });
    return button;
  }

  // ------------------------------------------------------------ choosing

  async choose(choice, { quiet = false } = {}) {
    const client = this.client;
    if (!client || !this.allowed) return;
    const camera = client.publications.get('camera');
    if (choice.kind !== 'none' && !(camera && camera.producerId)) {
      this.pending = choice; // applied when the camera is published
      if (!quiet) this.room.toast('Your background will change when your camera is on.');
      return;
    }
    this.pending = null;
    try {
      const state = await client.request('set_effect', effectFields(choice));
      this.current = { kind: state.kind, strength: state.strength, image_id: state.image_id };
      this.renderMenu();
      this.markTile(client.self && client.self.participant_id, this.current);
    } catch (err) {
      if (err && err.code === 'not_found' && choice.kind !== 'none' && /camera/.test(err.message || '')) {
        this.pending = choice; // the camera is still being published
        return;
      }
      if (err && err.code === 'policy') {
        this.allowed = false;
        this.button.hidden = true;
      }
      this.room.toast(`Background effect not applied: ${err && err.message ? err.message : err}`);
    }
  }

  onEffectState(msg) {
    const self = this.client && this.client.self;
    if (self && msg.participant_id === self.participant_id) {
      this.current = { kind: msg.kind, strength: msg.strength, image_id: msg.image_id };
      this.renderMenu();
    }
    this.markTile(msg.participant_id, msg);
  }

  /** A small badge on a participant's tile while their background is processed. */
  markTile(participantId, choice) {
    if (!participantId) return;
    const tile = this.room.tileElement(participantId);
    if (!tile) return;
    let badge = tile.querySelector('.effect-badge');
    if (!choice || choice.kind === 'none') {
      if (badge) badge.remove();
      return;
    }
    if (!badge) {
      badge = document.createElement('span');
      badge.className = 'effect-badge';
      tile.appendChild(badge);
    }
    badge.textContent = choice.kind === 'blur' ? 'Blurred background' : 'Background picture';
    badge.title = 'The background of this video is processed by the server';
  }

  showSelfView() {
    const self = this.client && this.client.self;
    const tile = self ? this.room.tileElement(self.participant_id) : null;
    const video = tile ? tile.querySelector('video') : null;
    if (!video) return;
    const local = this.room.localTracks.camera;
    const stream = this.selfStream || (local ? new MediaStream([local]) : null);
    const showing = video.srcObject;
    const same = showing && stream && showing.getVideoTracks()[0] === stream.getVideoTracks()[0];
    if (!same) {
      video.srcObject = stream;
      if (stream) video.play().catch(() => {});
    }
    tile.classList.toggle('self-processed', !!this.selfStream);
  }

  // ------------------------------------------------------------ "ask again"

  askPrevious(previous) {
    if (!this.allowed) return;
    const dialog = document.createElement('div');
    dialog.className = 'effects-prompt';
    dialog.setAttribute('role', 'dialog');
    dialog.setAttribute('aria-modal', 'true');
    dialog.setAttribute('aria-labelledby', 'effects-prompt-title');
    const card = document.createElement('div');
    card.className = 'effects-prompt-card';
    const title = document.createElement('h2');
    title.id = 'effects-prompt-title';
    title.textContent = `Use your previous background (${describeChoice(previous, this.images)})?`;
    const body = document.createElement('p');
    body.textContent = 'Last time you chose it for your camera. You can change it at any time with the Background button.';
    const yes = document.createElement('button');
    yes.type = 'button';
    yes.className = 'primary';
    yes.id = 'effects-prompt-yes';
    yes.textContent = 'Yes, use it';
    const no = document.createElement('button');
    no.type = 'button';
    no.id = 'effects-prompt-no';
    no.textContent = 'No, show my real background';
    const close = () => dialog.remove();
    yes.addEventListener('click', () => {
      close();
      this.choose({ kind: previous.kind, strength: previous.strength, image_id: previous.image_id });
    });
    no.addEventListener('click', close);
    const buttons = document.createElement('div');
    buttons.className = 'effects-prompt-buttons';
    buttons.append(yes, no);
    card.append(title, body, buttons);
    dialog.appendChild(card);
    document.body.appendChild(dialog);
    yes.focus();
  }
}

/** room.js extension entry point. */
export function install(room) {
  const panel = new EffectsPanel(room);
  window.consult = window.consult || {};
  window.consult.effects = panel;
  return panel;
}
