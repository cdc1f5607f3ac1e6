/**
 * room.js — the consultation room page (/room/<room>#token=...), built on consult-client.js.
 *
 * Views (one shown at a time, `body[data-view]`): prejoin -> (waiting) -> call, plus settings
 * (the call stays connected: device changes and camera problems are fixed there) and message
 * (errors, the end of the consultation).
 *
 * Extension point (the waiting room of the control plane): every module in EXTENSIONS that the
 * server serves is imported before anything else and its `install(room)` is called with the
 * {@link RoomApi} below (its stylesheet `css/<name>.css` is linked too). The page itself only
 * switches to the waiting view when a `waiting` message arrives before `joined` and back to
 * the call on `joined`; the extension renders into `room.elements.waiting` and may add a panel
 * (`room.elements.panel`) and toolbar buttons (`room.addToolbarButton`).
 *
 * The others' tiles, sound and notices are remote-participants.js's; this page keeps the
 * views, the local camera and microphone, the toolbar and the call's life cycle.
 * @module room
 */

import { ConsultClient, ConsultError, ConnectionState, parseJoinUrl } from './consult-client.js';
import { Stage } from './tiles.js';
import { CameraWatchdog, framesEncodedOf, openCamera, openMicrophone } from './media.js';
import { SettingsView } from './settings-view.js';
import { loadPrefs, savePrefs } from './prefs.js';
import { errorText, STATE_TEXTS } from './texts.js';
import { setButton } from './icons.js';
import { popover } from './popover.js';
import { RemoteParticipants } from './remote-participants.js';

/**
 * Optional modules next to this one, loaded only when the server has them: the waiting room
 * (control plane), and the places for the background-effects and captions controls.
 */
const EXTENSIONS = ['waiting', 'effects-panel', 'captions-panel'];

/** What "I send" means for the camera. */
const SEND_PRESETS = {
  720: { maxHeight: 720, maxBitrate: 1_500_000 },
  360: { maxHeight: 360, maxBitrate: 600_000 },
  180: { maxHeight: 180, maxBitrate: 200_000 },
};

const $ = (id) => document.getElementById(id);

/** Claims of the join token, read without verifying (only to greet and pre-check expiry). */
export function readTokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '='));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch (_) {
    return null;
  }
}

/** "1:02:03" / "02:03" */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** The opening time of a too_early refusal, formatted for the user, if the server gave one. */
function openingTime(error) {
  const msg = (error.details && error.details.message) || {};
  const raw = (error.details && error.details.opensAt) ?? msg.opens_at ?? null;
  let when = null;
  if (typeof raw === 'number') when = new Date(raw * 1000);
  else if (typeof raw === 'string') when = new Date(raw);
  else {
    const iso = /\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?/.exec(error.message || '');
    if (iso) when = new Date(iso[0].replace(' ', 'T'));
  }
  if (!when || Number.isNaN(when.getTime())) return null;
  return when.toLocaleString([], { weekday: 'long', hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'long' });
}

class RoomPage {
  constructor() {
    this.prefs = loadPrefs();
    this.client = null;
    this.local = { camera: null, microphone: null };
    this.muted = { camera: false, microphone: false };
    this.clockTimer = null;
    this.clientListeners = [];
    this.stage = new Stage($('stage'));
    this.remote = new RemoteParticipants({ stage: this.stage, getClient: () => this.client, toast: (text) => this.toast(text) });
    this.applyFit(this.prefs.videoFit);
    this.settingsView = new SettingsView($('settings-view'), {
      mode: 'room',
      getTracks: () => ({ ...this.local }),
      setTrack: (source, track) => this.useTrack(source, track),
      onRecovered: (track) => this.cameraRecovered(track),
      onClose: () => this.closeSettings(),
      onFitChange: (fit) => this.applyFit(fit),
    });
    this.watchdog = new CameraWatchdog({
      getTrack: () => (this.muted.camera ? null : this.local.camera),
      getFramesEncoded: async () => (this.client ? framesEncodedOf(await this.client.senderStats('camera')) : null),
      onProblem: (problem) => this.cameraProblem(problem),
    });
    this.api = this._makeApi();
  }

  // ---------------------------------------------------------------- views

  showView(name) {
    this.previousView = document.body.dataset.view;
    document.body.dataset.view = name;
    if (name === 'call') this.stage.layout();
  }

  showMessage(title, body, action = null) {
    $('message-title').textContent = title;
    $('message-body').textContent = body;
    const button = $('message-action');
    button.hidden = !action;
    if (action) {
      button.textContent = action.label;
      button.onclick = action.onClick;
    }
    this.showView('message');
  }

  showError(error) {
    const code = error.code || 'internal';
    const text = errorText(code, error.message, { time: code === 'too_early' ? openingTime(error) : undefined });
    if (code === 'too_early' && !openingTime(error) && error.message) text.body = `${error.message}. ${text.body}`;
    if (error.details && error.details.userMessage) text.body = error.details.userMessage;
    const retryable = ['server_unreachable', 'reconnect_failed', 'too_early', 'internal', 'timeout'].includes(code);
    document.body.dataset.error = code;
    this.showMessage(text.title, text.body, retryable ? { label: 'Try again', onClick: () => location.reload() } : null);
  }

  toast(text, ms = 5000) {
    const el = document.createElement('div');
    el.className = 'toast';
    el.textContent = text;
    $('toasts').appendChild(el);
    setTimeout(() => el.remove(), ms);
  }

  applyFit(fit) {
    const stage = $('stage');
    stage.classList.toggle('fit-cover', fit !== 'contain');
    stage.classList.toggle('fit-contain', fit === 'contain');
  }

  // ---------------------------------------------------------------- start

  async start() {
    try {
      this.link = parseJoinUrl(location.href);
    } catch (err) {
      this.showError(err);
      return;
    }
    this.claims = readTokenClaims(this.link.token) || {};
    if (typeof this.claims.exp === 'number' && this.claims.exp * 1000 < Date.now()) {
      this.showError(new ConsultError('token_expired', 'the link has expired'));
      return;
    }
    await this.loadExtensions();
    $('prejoin-who').textContent = this.claims.name ? `You are joining as ${this.claims.name}.` : '';
    this.setupButtons();
    this.showView('prejoin');
    // Join may be pressed before the camera and microphone are open: onJoined waits for this.
    this.mediaReady = this.openLocalMedia();
    await this.mediaReady;
  }

  async loadExtensions() {
    for (const name of EXTENSIONS) {
      const url = new URL(`./${name}.js`, import.meta.url);
      try {
        const head = await fetch(url, { method: 'HEAD' });
        if (!head.ok) continue;
        const css = document.createElement('link');
        css.rel = 'stylesheet';
        css.href = new URL(`../css/${name}.css`, import.meta.url).href;
        document.head.appendChild(css);
        const mod = await import(url.href);
        if (typeof mod.install === 'function') await mod.install(this.api);
      } catch (err) {
        console.warn(`extension ${name} failed to load`, err);
      }
    }
  }

  async openLocalMedia() {
    const notice = $('prejoin-notice');
    const problems = [];
    const [camera, microphone] = await Promise.allSettled([openCamera(this.prefs.cameraId), openMicrophone(this.prefs.microphoneId)]);
    if (camera.status === 'fulfilled') this.local.camera = camera.value;
    else problems.push(camera.reason);
    if (microphone.status === 'fulfilled') this.local.microphone = microphone.value;
    else problems.push(microphone.reason);
    if (problems.length) {
      const first = problems.find((p) => p.code === 'permission_denied') || problems[0];
      const text = errorText(first.code || 'media_error', first.message);
      notice.innerHTML = '';
      const strong = document.createElement('strong');
      strong.textContent = text.title;
      notice.append(strong, document.createTextNode(` ${text.body}`));
      notice.hidden = false;
      notice.dataset.code = first.code || 'media_error';
    }
    this.refreshPreview();
    this.refreshButtons();
  }

  refreshPreview() {
    const video = $('prejoin-preview');
    const on = this.local.camera && !this.muted.camera;
    video.srcObject = this.local.camera ? new MediaStream([this.local.camera]) : null;
    if (this.local.camera) video.play().catch(() => {});
    $('prejoin-nocam').hidden = !!on;
    const self = this.stage.get('self');
    if (self) {
      self.setVideo(this.local.camera ? new MediaStream([this.local.camera]) : null);
      self.setVideoMuted(this.muted.camera);
      self.setAudioMuted(this.muted.microphone || !this.local.microphone);
    }
  }

  // ---------------------------------------------------------------- buttons

  setupButtons() {
    $('join-button').addEventListener('click', () => this.join());
    $('prejoin-settings').addEventListener('click', () => this.openSettings());
    $('prejoin-mic').addEventListener('click', () => this.toggleMute('microphone'));
    $('prejoin-camera').addEventListener('click', () => this.toggleMute('camera'));
    $('btn-mic').addEventListener('click', () => this.toggleMute('microphone'));
    $('btn-camera').addEventListener('click', () => this.toggleMute('camera'));
    $('btn-screen').addEventListener('click', () => this.toggleScreen());
    this.resolutionMenu = popover($('btn-resolution'), $('resolution-panel')); // closes on a click elsewhere or Escape
    $('btn-resolution').addEventListener('click', (ev) => this.resolutionMenu.toggle(ev));
    $('btn-pip').addEventListener('click', () => this.togglePip());
    $('btn-fullscreen').addEventListener('click', () => this.toggleFullscreen());
    $('btn-settings').addEventListener('click', () => this.openSettings());
    $('btn-leave').addEventListener('click', () => this.leave());
    $('send-resolution').value = String(this.prefs.sendHeight);
    $('receive-resolution').value = String(this.prefs.receiveHeight);
    $('send-resolution').addEventListener('change', (ev) => this.setSendResolution(Number(ev.target.value)));
    $('receive-resolution').addEventListener('change', (ev) => this.setReceiveResolution(Number(ev.target.value)));
    setButton($('btn-screen'), 'screen', 'Share screen');
    setButton($('btn-resolution'), 'resolution', 'Resolution');
    setButton($('btn-pip'), 'pip', 'Picture in picture');
    setButton($('btn-fullscreen'), 'fullscreen', 'Full screen');
    setButton($('btn-settings'), 'settings', 'Settings');
    setButton($('btn-leave'), 'leave', 'Leave');
    $('btn-screen').hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    const pipVideo = document.createElement('video');
    $('btn-pip').hidden = !(document.pictureInPictureEnabled || typeof pipVideo.webkitSetPresentationMode === 'function');
    document.addEventListener('fullscreenchange', () => $('btn-fullscreen').setAttribute('aria-pressed', String(!!document.fullscreenElement)));
    this.refreshButtons();
  }

  refreshButtons() {
    const mic = this.muted.microphone || !this.local.microphone;
    const cam = this.muted.camera || !this.local.camera;
    for (const id of ['btn-mic', 'prejoin-mic']) {
      setButton($(id), mic ? 'micOff' : 'mic', mic ? 'Unmute microphone' : 'Mute microphone');
      $(id).setAttribute('aria-pressed', String(mic));
      $(id).classList.toggle('off', mic);
    }
    for (const id of ['btn-camera', 'prejoin-camera']) {
      setButton($(id), cam ? 'cameraOff' : 'camera', cam ? 'Turn camera on' : 'Turn camera off');
      $(id).setAttribute('aria-pressed', String(cam));
      $(id).classList.toggle('off', cam);
    }
    const sharing = !!(this.client && this.client.publications.has('screen'));
    setButton($('btn-screen'), 'screen', sharing ? 'Stop sharing' : 'Share screen');
    $('btn-screen').classList.toggle('active', sharing);
    $('btn-screen').setAttribute('aria-pressed', String(sharing));
  }

  async toggleMute(source) {
    if (!this.local[source]) {
      // No device yet (denied or missing at start): try again now that the user asks for it.
      try {
        const track = source === 'camera' ? await openCamera(this.prefs.cameraId) : await openMicrophone(this.prefs.microphoneId);
        this.muted[source] = false;
        await this.useTrack(source, track);
      } catch (err) {
        const text = errorText(err.code || 'media_error', err.message);
        this.toast(`${text.title}. ${text.body}`);
      }
      this.refreshButtons();
      return;
    }
    this.muted[source] = !this.muted[source];
    this.local[source].enabled = !this.muted[source];
    if (this.client) this.client.setMuted(source, this.muted[source]);
    this.refreshPreview();
    this.refreshButtons();
  }

  /** Take over a new local track (device change, or a camera that came back). */
  async useTrack(source, track) {
    const old = this.local[source];
    this.local[source] = track;
    track.enabled = !this.muted[source];
    if (this.client && this.client.publications.has(source)) {
      await this.client.replaceTrack(source, track, { ownsTrack: true });
    } else {
      if (old && old !== track) old.stop();
      if (this.client && this.client.state === ConnectionState.CONNECTED) {
        await this.client.publish(track, { source, muted: this.muted[source], ownsTrack: true, sendLimits: source === 'camera' ? SEND_PRESETS[this.prefs.sendHeight] : {} });
      }
    }
    this.refreshPreview();
    this.refreshButtons();
  }

  async toggleScreen() {
    if (!this.client || this.client.state !== ConnectionState.CONNECTED) return;
    try {
      if (this.client.publications.has('screen')) {
        await this.client.unpublish('screen');
        await this.client.unpublish('screen_audio');
      } else {
        await this.client.publishScreen();
        this.toast('You are sharing your screen.');
      }
    } catch (err) {
      if (err.code !== 'permission_denied') this.toast(errorText(err.code || 'media_error', err.message).title);
    }
    this.refreshButtons();
  }

  async togglePip() {
    try {
      if (document.pictureInPictureElement) {
        await document.exitPictureInPicture();
        return;
      }
      const video = this.stage.mainRemoteVideo();
      if (!video) {
        this.toast('Picture in picture needs the other person\'s video.');
        return;
      }
      if (video.requestPictureInPicture) await video.requestPictureInPicture();
      else if (video.webkitSetPresentationMode) video.webkitSetPresentationMode('picture-in-picture');
    } catch (err) {
      this.toast(`Picture in picture is not available: ${err.message}`);
    }
  }

  async toggleFullscreen() {
    const app = $('app');
    try {
      if (document.fullscreenElement || document.webkitFullscreenElement) {
        await (document.exitFullscreen ? document.exitFullscreen() : document.webkitExitFullscreen());
      } else if (app.requestFullscreen) {
        await app.requestFullscreen();
      } else if (app.webkitRequestFullscreen) {
        app.webkitRequestFullscreen();
      } else {
        const video = this.stage.mainRemoteVideo(); // iPhone: only a video can go full screen
        if (video && video.webkitEnterFullscreen) video.webkitEnterFullscreen();
      }
    } catch (err) {
      this.toast(`Full screen is not available: ${err.message}`);
    }
  }

  async setSendResolution(height) {
    this.prefs = savePrefs({ sendHeight: height });
    if (this.client) await this.client.setSendLimits('camera', SEND_PRESETS[height] || {});
  }

  setReceiveResolution(height) {
    this.prefs = savePrefs({ receiveHeight: height });
    if (this.client) this.client.setSubscription('*', height ? { maxHeight: height } : {});
  }

  // ---------------------------------------------------------------- settings view

  openSettings(problem = null) {
    this.watchdog.stop();
    this.settingsReturn = document.body.dataset.view === 'settings' ? this.settingsReturn : document.body.dataset.view;
    this.showView('settings');
    // The network test sends media of its own: offered before joining, not during the call.
    this.settingsView.open({ problem, echo: !this.client });
  }

  closeSettings() {
    this.settingsView.close();
    this.showView(this.settingsReturn || 'prejoin');
    this.refreshPreview();
    if (this.settingsReturn === 'call') this.watchdog.start();
  }

  cameraProblem(problem) {
    this.cameraProblemActive = true;
    document.body.dataset.cameraProblem = problem;
    this.openSettings(problem);
  }

  async cameraRecovered(track) {
    this.cameraProblemActive = false;
    delete document.body.dataset.cameraProblem;
    await this.useTrack('camera', track);
    this.closeSettings();
    this.toast('Your camera works again.');
  }

  // ---------------------------------------------------------------- joining

  async join() {
    $('join-button').disabled = true;
    this.client = new ConsultClient({ url: this.link.wsUrl, token: this.link.token });
    window.consult.client = this.client;
    for (const fn of this.clientListeners) fn(this.client);
    this.wireClient(this.client);
    $('status').textContent = STATE_TEXTS.connecting;
    this.showView('call');
    this.stage.upsert('self', { kind: 'camera', self: true, name: this.claims.name || 'You' });
    this.refreshPreview();
    try {
      await this.client.connect();
    } catch (err) {
      if (this.client.state !== ConnectionState.CLOSED) this.showError(err);
    }
  }

  wireClient(client) {
    client.on('state', ({ state }) => {
      document.body.dataset.state = state;
      $('status').textContent = STATE_TEXTS[state] ?? '';
      if (state === ConnectionState.RECONNECTING) this.watchdog.stop();
    });
    client.on('waiting', () => {
      if (document.body.dataset.view !== 'settings') this.showView('waiting');
    });
    client.on('joined', (detail) => this.onJoined(detail));
    this.remote.attach(client);
    client.on('local_track_unpublished', () => this.refreshButtons());
    client.on('local_track_published', () => this.refreshButtons());
    client.on('resolution_requested', ({ maxHeight }) => this.toast(`The other side asked for at most ${maxHeight}p from your camera.`));
    client.on('error', ({ error, fatal }) => {
      if (fatal) this.showError(error);
      else console.warn('consult:', error.code, error.message);
    });
    client.on('bye', ({ reason, message }) => this.onBye(reason, message));
  }

  async onJoined(detail) {
    const { self, settings } = detail;
    this.stage.upsert('self', { kind: 'camera', self: true, name: self.name || 'You' });
    $('btn-resolution').hidden = settings.resolution_change_allowed === false;
    if (settings.resolution_change_allowed === false) this.resolutionMenu.close();
    for (const p of detail.participants) this.remote.upsertParticipant(p);
    if (document.body.dataset.view !== 'settings') this.showView('call');
    this.startClock();
    if (this.mediaReady) await this.mediaReady;
    const publishing = [];
    for (const source of ['microphone', 'camera']) {
      const track = this.local[source];
      if (track && !this.client.publications.has(source)) {
        publishing.push(this.client.publish(track, {
          source, muted: this.muted[source], ownsTrack: true, sendLimits: source === 'camera' ? SEND_PRESETS[this.prefs.sendHeight] : {},
        }));
      }
    }
    if (this.prefs.receiveHeight && settings.resolution_change_allowed !== false) this.client.setSubscription('*', { maxHeight: this.prefs.receiveHeight });
    try {
      await Promise.all(publishing);
    } catch (err) {
      this.toast(`Could not send your video: ${err.message}`);
    }
    if (document.body.dataset.view === 'call' && !this.cameraProblemActive) this.watchdog.start();
    this.refreshButtons();
  }

  startClock() {
    clearInterval(this.clockTimer);
    const tick = () => { $('clock').textContent = formatDuration(Date.now() - this.client.startedAt); };
    tick();
    this.clockTimer = setInterval(tick, 1000);
  }

  onBye(reason, message) {
    this.stopCall();
    const text = errorText(reason, message);
    if (reason === 'ended' || reason === 'denied') text.body = message || text.body;
    this.showMessage(text.title, text.body);
  }

  stopCall() {
    this.watchdog.stop();
    clearInterval(this.clockTimer);
    this.remote.removeAudio();
  }

  leave() {
    if (this.client) this.client.leave();
    this.stopCall();
    this.local = { camera: null, microphone: null };
    this.showMessage('You left the consultation', 'You can close this page, or join again.', { label: 'Join again', onClick: () => location.reload() });
  }

  // ---------------------------------------------------------------- extension API

  /**
   * @typedef {object} RoomApi
   * @property {ConsultClient|null} client  the client once "Join" was pressed
   * @property {(fn: (client: ConsultClient) => void) => void} onClient  called when the client is
   *           created, before it connects (subscribe to `waiting` etc. there)
   * @property {{waiting: HTMLElement, panel: HTMLElement, toolbar: HTMLElement, stage: HTMLElement}} elements
   * @property {(name: string) => void} showView  prejoin | waiting | call | settings | message
   * @property {(title: string, body: string) => void} showMessage
   * @property {(spec: {id: string, label: string, icon?: string, onClick: () => void}) => HTMLButtonElement} addToolbarButton
   * @property {(text: string) => void} toast
   * @property {object} claims  the join token's claims (unverified: display only)
   * @property {(participantId: string) => HTMLElement|null} tileElement  a participant's camera tile
   * @property {{camera: MediaStreamTrack|null, microphone: MediaStreamTrack|null}} localTracks
   */
  _makeApi() {
    const page = this;
    return {
      get client() { return page.client; },
      onClient(fn) {
        page.clientListeners.push(fn);
        if (page.client) fn(page.client);
      },
      elements: { waiting: $('waiting-view'), panel: $('side-panel'), toolbar: $('toolbar-extra'), stage: $('stage') },
      showView: (name) => page.showView(name),
      showMessage: (title, body) => page.showMessage(title, body),
      toast: (text) => page.toast(text),
      addToolbarButton({ id, label, icon, onClick }) {
        const button = document.createElement('button');
        button.type = 'button';
        button.id = id;
        if (icon) setButton(button, icon, label);
        else button.textContent = label;
        button.addEventListener('click', onClick);
        $('toolbar-extra').appendChild(button);
        return button;
      },
      get claims() { return page.claims || {}; },
      /** The tile element of a participant's camera (e.g. to put subtitles under it), or null. */
      tileElement(participantId) {
        const tile = page.stage.get(participantId === page.client?.self?.participant_id ? 'self' : `cam:${participantId}`);
        return tile ? tile.el : null;
      },
      /** Local camera and microphone tracks (null when absent). */
      get localTracks() { return { ...page.local }; },
    };
  }
}

const page = new RoomPage();
window.consult = { room: page, client: null };
page.start();
