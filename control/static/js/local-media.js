/**
 * local-media.js — this participant's camera and microphone on the room page: opening them
 * (the preferred devices, with the reason shown on the pre-join card when that fails), muting,
 * taking over a new track (a device change, a camera that came back), publishing them once
 * joined, and showing them (the pre-join preview and the own tile).
 * @module local-media
 */

import { ConnectionState } from './consult-client.js';
import { openCamera, openMicrophone } from './media.js';
import { errorText } from './texts.js';
import { sendPreset } from './resolution-menu.js';

/** @typedef {import('./consult-client.js').ConsultClient} ConsultClient */
/** @typedef {'camera'|'microphone'} LocalSource */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The local camera and microphone, and whether the user muted them. */
export class LocalMedia {
  /**
   * @param {object} deps
   * @param {() => ConsultClient|null} deps.getClient
   * @param {() => import('./prefs.js').Prefs} deps.getPrefs  devices and the send resolution
   * @param {(self: {camera: MediaStreamTrack|null, videoMuted: boolean, audioMuted: boolean}) => void} deps.showSelf
   *        refresh the own tile
   * @param {() => void} deps.onChange  a track or a mute changed (refresh the buttons)
   * @param {(text: string) => void} deps.toast
   */
  constructor({ getClient, getPrefs, showSelf, onChange, toast }) {
    this.getClient = getClient;
    this.getPrefs = getPrefs;
    this.showSelf = showSelf;
    this.onChange = onChange;
    this.toast = toast;
    /** @type {{camera: MediaStreamTrack|null, microphone: MediaStreamTrack|null}} */
    this.tracks = { camera: null, microphone: null };
    this.muted = { camera: false, microphone: false };
    /** Settles once the first attempt to open both devices is over (joining waits for it). */
    this.ready = Promise.resolve();
  }

  /** The microphone is silent: muted, or there is none. */
  get microphoneOff() {
    return this.muted.microphone || !this.tracks.microphone;
  }

  /** The camera shows nothing: muted, or there is none. */
  get cameraOff() {
    return this.muted.camera || !this.tracks.camera;
  }

  /** Open both devices; a failure is explained on the pre-join card (`#prejoin-notice`). */
  open() {
    this.ready = this._open();
    return this.ready;
  }

  async _open() {
    const prefs = this.getPrefs();
    /** @type {any[]} */
    const problems = [];
    const [camera, microphone] = await Promise.allSettled([openCamera(prefs.cameraId), openMicrophone(prefs.microphoneId)]);
    if (camera.status === 'fulfilled') this.tracks.camera = camera.value;
    else problems.push(camera.reason);
    if (microphone.status === 'fulfilled') this.tracks.microphone = microphone.value;
    else problems.push(microphone.reason);
    if (problems.length) {
      const first = problems.find((p) => p.code === 'permission_denied') || problems[0];
      const text = errorText(first.code || 'media_error', first.message);
      const notice = $('prejoin-notice');
      notice.innerHTML = '';
      const strong = document.createElement('strong');
      strong.textContent = text.title;
      notice.append(strong, document.createTextNode(` ${text.body}`));
      notice.hidden = false;
      notice.dataset.code = first.code || 'media_error';
    }
    this.refresh();
    this.onChange();
  }

  /** Show the tracks: the pre-join preview and the own tile. */
  refresh() {
    const camera = this.tracks.camera;
    const video = /** @type {HTMLVideoElement} */ ($('prejoin-preview'));
    video.srcObject = camera ? new MediaStream([camera]) : null;
    if (camera) video.play().catch(() => {});
    $('prejoin-nocam').hidden = !!(camera && !this.muted.camera);
    this.showSelf({ camera, videoMuted: this.muted.camera, audioMuted: this.microphoneOff });
  }

  /**
   * Mute or unmute a device; without one (denied or missing at start), try to open it now that
   * the user asks for it.
   * @param {LocalSource} source
   */
  async toggleMute(source) {
    const track = this.tracks[source];
    if (!track) {
      try {
        const prefs = this.getPrefs();
        const opened = source === 'camera' ? await openCamera(prefs.cameraId) : await openMicrophone(prefs.microphoneId);
        this.muted[source] = false;
        await this.useTrack(source, opened);
      } catch (err) {
        const e = /** @type {{code?: string, message?: string}} */ (err);
        const text = errorText(e.code || 'media_error', e.message);
        this.toast(`${text.title}. ${text.body}`);
      }
      this.onChange();
      return;
    }
    this.muted[source] = !this.muted[source];
    track.enabled = !this.muted[source];
    const client = this.getClient();
    if (client) client.setMuted(source, this.muted[source]);
    this.refresh();
    this.onChange();
  }

  /**
   * Take over a new local track (device change, or a camera that came back): the published
   * one is replaced without renegotiation, an unpublished one is published when connected.
   * @param {LocalSource} source
   * @param {MediaStreamTrack} track
   */
  async useTrack(source, track) {
    const old = this.tracks[source];
    this.tracks[source] = track;
    track.enabled = !this.muted[source];
    const client = this.getClient();
    if (client && client.publications.has(source)) {
      await client.replaceTrack(source, track, { ownsTrack: true });
    } else {
      if (old && old !== track) old.stop();
      if (client && client.state === ConnectionState.CONNECTED) await this._publish(client, source, track);
    }
    this.refresh();
    this.onChange();
  }

  /**
   * Joined: publish what is open and not published yet (waits for the devices to open first).
   * @param {ConsultClient} client
   */
  async publishAll(client) {
    await this.ready;
    /** @type {Promise<unknown>[]} */
    const publishing = [];
    for (const source of /** @type {LocalSource[]} */ (['microphone', 'camera'])) {
      const track = this.tracks[source];
      if (track && !client.publications.has(source)) publishing.push(this._publish(client, source, track));
    }
    await Promise.all(publishing);
  }

  /**
   * @param {ConsultClient} client
   * @param {LocalSource} source
   * @param {MediaStreamTrack} track
   */
  _publish(client, source, track) {
    const sendLimits = source === 'camera' ? sendPreset(this.getPrefs().sendHeight) : {};
    return client.publish(track, { source, muted: this.muted[source], ownsTrack: true, sendLimits });
  }

  /** Left the call: the client stopped the tracks it published; forget them. */
  forget() {
    this.tracks = { camera: null, microphone: null };
  }
}
