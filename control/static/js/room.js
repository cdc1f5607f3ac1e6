/**
 * room.js — the consultation room page (/room/<room>#token=...), built on consult-client.js.
 *
 * Views (one shown at a time, `body[data-view]`): prejoin -> (waiting) -> call, plus settings
 * (the call stays connected: device changes and camera problems are fixed there) and message
 * (errors, the end of the consultation).
 *
 * {@link RoomPage} keeps the call's life cycle (join, waiting, joined, re-joined, bye, leave)
 * and composes the parts, one job each:
 *  - room-views.js        the views, the message view, toasts
 *  - room-link.js         the join link and the token's claims
 *  - room-stage.js        the tiles and their layout (tiles.js), the others (remote-participants.js), the own tile
 *  - local-media.js       the local camera and microphone: open, mute, replace, publish
 *  - room-toolbar.js      the buttons (pre-join card and call toolbar), screen share
 *  - resolution-menu.js   what is sent and received (toolbar menu)
 *  - pip-fullscreen.js    picture in picture and full screen
 *  - consultation-clock.js the clock in the top bar
 *  - room-settings.js     the settings view over the call, the camera watchdog
 *  - room-extensions.js   the waiting room, effects and captions modules, and their {@link RoomApi}
 *
 * `window.consult` = {room, client} for tests and debugging: `room.local` (the local tracks)
 * and `room.useTrack(source, track)` are kept for them.
 * @module room
 */

import { ConsultClient, ConnectionState } from './consult-client.js';
import { loadPrefs } from './prefs.js';
import { errorText, STATE_TEXTS } from './texts.js';
import { RoomViews } from './room-views.js';
import { readJoinLink } from './room-link.js';
import { RoomStage } from './room-stage.js';
import { LocalMedia } from './local-media.js';
import { Toolbar } from './room-toolbar.js';
import { ResolutionMenu } from './resolution-menu.js';
import { PipAndFullscreen } from './pip-fullscreen.js';
import { ConsultationClock } from './consultation-clock.js';
import { RoomSettings } from './room-settings.js';
import { loadExtensions } from './room-extensions.js';

/** @typedef {import('./room-extensions.js').RoomApi} RoomApi */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

class RoomPage {
  constructor() {
    /** @type {ConsultClient|null} */
    this.client = null;
    /** @type {((client: ConsultClient) => void)[]} */
    this.clientListeners = [];
    /** @type {Record<string, any>} */
    this.claims = {};
    const getClient = () => this.client;
    const toast = (/** @type {string} */ text) => this.views.toast(text);
    this.views = new RoomViews({ onShow: (name) => { if (name === 'call') this.stage.layout(); } });
    this.stage = new RoomStage($('stage'), { getClient, toast });
    this.stage.setFit(loadPrefs().videoFit);
    this.media = new LocalMedia({
      getClient,
      getPrefs: loadPrefs,
      showSelf: (self) => this.stage.updateSelf(self),
      onChange: () => this.toolbar?.refresh(),
      toast,
    });
    this.settings = new RoomSettings($('settings-view'), {
      views: this.views, media: this.media, getClient, toast, onFitChange: (fit) => this.stage.setFit(fit),
    });
    this.clock = new ConsultationClock($('clock'));
    /** @type {Toolbar|null} built once the extensions added their buttons */
    this.toolbar = null;
    /** @type {ResolutionMenu|null} */
    this.resolution = null;
    /** @type {{wsUrl: string, token: string}|null} */
    this.link = null;
    this.api = this._makeApi();
  }

  /** The local camera and microphone tracks (tests read them). */
  get local() {
    return this.media.tracks;
  }

  /**
   * Take over a new local track (tests use it to swap the camera).
   * @param {'camera'|'microphone'} source
   * @param {MediaStreamTrack} track
   */
  useTrack(source, track) {
    return this.media.useTrack(source, track);
  }

  // ---------------------------------------------------------------- start

  async start() {
    try {
      ({ link: this.link, claims: this.claims } = readJoinLink(location.href));
    } catch (err) {
      this.views.showError(/** @type {import('./consult-client.js').ConsultError} */ (err));
      return;
    }
    await loadExtensions(this.api);
    $('prejoin-who').textContent = this.claims.name ? `You are joining as ${this.claims.name}.` : '';
    const getClient = () => this.client;
    const toast = (/** @type {string} */ text) => this.views.toast(text);
    this.toolbar = new Toolbar({
      media: this.media,
      getClient,
      toast,
      actions: { join: () => this.join(), settings: () => this.settings.open(), leave: () => this.leave() },
    });
    this.resolution = new ResolutionMenu(getClient);
    this.pipAndFullscreen = new PipAndFullscreen({
      pipButton: $('btn-pip'),
      fullscreenButton: $('btn-fullscreen'),
      app: $('app'),
      mainRemoteVideo: () => this.stage.mainRemoteVideo(),
      toast,
    });
    this.views.show('prejoin');
    // Join may be pressed before the camera and microphone are open: onJoined waits for them.
    await this.media.open();
  }

  // ---------------------------------------------------------------- the call

  async join() {
    if (!this.link) return;
    this.toolbar?.disableJoin();
    const client = new ConsultClient({ url: this.link.wsUrl, token: this.link.token });
    this.client = client;
    /** @type {any} */ (window).consult.client = client;
    for (const fn of this.clientListeners) fn(client);
    this.wireClient(client);
    $('status').textContent = STATE_TEXTS.connecting;
    this.views.show('call');
    this.stage.showSelf(this.claims.name || 'You');
    this.media.refresh();
    try {
      await client.connect();
    } catch (err) {
      if (client.state !== ConnectionState.CLOSED) this.views.showError(/** @type {import('./consult-client.js').ConsultError} */ (err));
    }
  }

  /** @param {ConsultClient} client */
  wireClient(client) {
    client.on('state', ({ state }) => {
      document.body.dataset.state = state;
      $('status').textContent = STATE_TEXTS[state] ?? '';
      if (state === ConnectionState.RECONNECTING) this.settings.stopWatching();
    });
    client.on('waiting', () => {
      if (this.views.current !== 'settings') this.views.show('waiting');
    });
    client.on('joined', (detail) => this.onJoined(client, detail));
    this.stage.attach(client);
    client.on('local_track_unpublished', () => this.toolbar?.refresh());
    client.on('local_track_published', () => this.toolbar?.refresh());
    client.on('resolution_requested', ({ maxHeight }) => {
      if (maxHeight !== null) this.views.toast(`The other side asked for at most ${maxHeight}p from your camera.`);
    });
    client.on('error', ({ error, fatal }) => {
      if (fatal) this.views.showError(error);
      else console.warn('consult:', error.code, error.message);
    });
    client.on('bye', ({ reason, message }) => this.onBye(reason, message));
  }

  /**
   * Joined (first time or again after a drop).
   * @param {ConsultClient} client
   * @param {import('./consult-client.js').JoinedDetail} detail
   */
  async onJoined(client, { self, settings, participants }) {
    this.stage.showSelf(self.name || 'You');
    this.stage.addParticipants(participants);
    if (this.views.current !== 'settings') this.views.show('call');
    this.clock.start(() => client.startedAt ?? Date.now());
    this.resolution?.onJoined(client, settings);
    try {
      await this.media.publishAll(client);
    } catch (err) {
      this.views.toast(`Could not send your video: ${/** @type {Error} */ (err).message}`);
    }
    this.settings.watchCamera();
    this.toolbar?.refresh();
  }

  /**
   * @param {string} reason
   * @param {string|null} message
   */
  onBye(reason, message) {
    this.stopCall();
    const text = errorText(reason, message ?? undefined);
    if (reason === 'ended' || reason === 'denied') text.body = message || text.body;
    this.views.showMessage(text.title, text.body);
  }

  stopCall() {
    this.settings.stopWatching();
    this.clock.stop();
    this.stage.stopSound();
  }

  leave() {
    if (this.client) this.client.leave();
    this.stopCall();
    this.media.forget();
    this.views.showMessage('You left the consultation', 'You can close this page, or join again.', { label: 'Join again', onClick: () => location.reload() });
  }

  // ---------------------------------------------------------------- extension API

  /** @returns {RoomApi} */
  _makeApi() {
    const page = this;
    return {
      get client() { return page.client; },
      onClient(fn) {
        page.clientListeners.push(fn);
        if (page.client) fn(page.client);
      },
      elements: { waiting: $('waiting-view'), panel: $('side-panel'), toolbar: $('toolbar-extra'), stage: $('stage') },
      showView: (name) => page.views.show(name),
      showMessage: (title, body) => page.views.showMessage(title, body),
      toast: (text) => page.views.toast(text),
      addToolbarButton: (spec) => Toolbar.addButton(spec),
      get claims() { return page.claims; },
      /** The tile element of a participant's camera (e.g. to put subtitles under it), or null. */
      tileElement: (participantId) => page.stage.tileElement(participantId),
      /** Local camera and microphone tracks (null when absent). */
      get localTracks() { return { ...page.media.tracks }; },
    };
  }
}

const page = new RoomPage();
/** @type {any} */ (window).consult = { room: page, client: null };
page.start();
