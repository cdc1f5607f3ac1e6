/**
 * room-settings.js — the settings view over the call (the call stays connected: devices are
 * changed and camera problems fixed there) and the camera watchdog that opens it.
 *
 * During the call a watchdog samples the local camera (media.js): when the track ended, or
 * the picture stays black or frozen, the settings view opens with the problem
 * (`body[data-camera-problem]`), keeps trying to reopen the camera, and hands the new track
 * back once it gives good pictures; the page then returns to where it was.
 * @module room-settings
 */

import { CameraWatchdog, framesEncodedOf } from './media.js';
import { SettingsView } from './settings-view.js';

/** @typedef {import('./consult-client.js').ConsultClient} ConsultClient */

/** The settings view of the room page, and the camera watchdog. */
export class RoomSettings {
  /**
   * @param {HTMLElement} root the settings view (`#settings-view`)
   * @param {object} deps
   * @param {import('./room-views.js').RoomViews} deps.views
   * @param {import('./local-media.js').LocalMedia} deps.media
   * @param {() => ConsultClient|null} deps.getClient
   * @param {(fit: string) => void} deps.onFitChange
   * @param {(text: string) => void} deps.toast
   */
  constructor(root, { views, media, getClient, onFitChange, toast }) {
    this.views = views;
    this.media = media;
    this.getClient = getClient;
    this.toast = toast;
    /** The view to return to when the settings close. */
    this.returnTo = '';
    this.cameraProblem = false;
    this.view = new SettingsView(root, {
      mode: 'room',
      getTracks: () => ({ ...media.tracks }),
      setTrack: (source, track) => media.useTrack(/** @type {'camera'|'microphone'} */ (source), track),
      onRecovered: (track) => this._cameraRecovered(track),
      onClose: () => this.close(),
      onFitChange,
    });
    this.watchdog = new CameraWatchdog({
      getTrack: () => (media.muted.camera ? null : media.tracks.camera),
      getFramesEncoded: async () => {
        const client = getClient();
        return client ? framesEncodedOf(await client.senderStats('camera')) : null;
      },
      onProblem: (problem) => this._cameraProblem(problem),
    });
  }

  /**
   * Show the settings view (with a camera problem to fix, or not).
   * @param {string|null} [problem]
   */
  open(problem = null) {
    this.watchdog.stop();
    if (this.views.current !== 'settings') this.returnTo = this.views.current;
    this.views.show('settings');
    // The network test sends media of its own: offered before joining, not during the call.
    this.view.open({ problem, echo: !this.getClient() });
  }

  /** Back to the view the settings were opened from. */
  close() {
    this.view.close();
    this.views.show(this.returnTo || 'prejoin');
    this.media.refresh();
    if (this.returnTo === 'call') this.watchdog.start();
  }

  /** In the call: watch the camera, unless a problem is being fixed in the settings. */
  watchCamera() {
    if (this.views.current === 'call' && !this.cameraProblem) this.watchdog.start();
  }

  stopWatching() {
    this.watchdog.stop();
  }

  /** @param {string} problem */
  _cameraProblem(problem) {
    this.cameraProblem = true;
    document.body.dataset.cameraProblem = problem;
    this.open(problem);
  }

  /** @param {MediaStreamTrack} track */
  async _cameraRecovered(track) {
    this.cameraProblem = false;
    delete document.body.dataset.cameraProblem;
    await this.media.useTrack('camera', track);
    this.close();
    this.toast('Your camera works again.');
  }
}
