/**
 * room-toolbar.js — the buttons of the room page: the pre-join card's (join, microphone,
 * camera, settings) and the call toolbar's (microphone, camera, share screen, settings, leave,
 * and the buttons extensions add). It keeps their icons, labels and pressed state in step with
 * the local media and the screen share; the resolution menu, picture in picture and full
 * screen are resolution-menu.js's and pip-fullscreen.js's.
 * @module room-toolbar
 */

import { ConnectionState } from './consult-client.js';
import { setButton } from './icons.js';
import { errorText } from './texts.js';

/** @typedef {import('./consult-client.js').ConsultClient} ConsultClient */
/** @typedef {import('./local-media.js').LocalMedia} LocalMedia */

const $ = (/** @type {string} */ id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));

/** The page's buttons. */
export class Toolbar {
  /**
   * @param {object} deps
   * @param {LocalMedia} deps.media
   * @param {() => ConsultClient|null} deps.getClient
   * @param {(text: string) => void} deps.toast
   * @param {{join: () => void, settings: () => void, leave: () => void}} deps.actions
   */
  constructor({ media, getClient, toast, actions }) {
    this.media = media;
    this.getClient = getClient;
    this.toast = toast;
    $('join-button').addEventListener('click', () => actions.join());
    $('prejoin-settings').addEventListener('click', () => actions.settings());
    for (const id of ['prejoin-mic', 'btn-mic']) $(id).addEventListener('click', () => media.toggleMute('microphone'));
    for (const id of ['prejoin-camera', 'btn-camera']) $(id).addEventListener('click', () => media.toggleMute('camera'));
    $('btn-screen').addEventListener('click', () => this.toggleScreen());
    $('btn-settings').addEventListener('click', () => actions.settings());
    $('btn-leave').addEventListener('click', () => actions.leave());
    setButton($('btn-screen'), 'screen', 'Share screen');
    setButton($('btn-resolution'), 'resolution', 'Resolution');
    setButton($('btn-pip'), 'pip', 'Picture in picture');
    setButton($('btn-fullscreen'), 'fullscreen', 'Full screen');
    setButton($('btn-settings'), 'settings', 'Settings');
    setButton($('btn-leave'), 'leave', 'Leave');
    $('btn-screen').hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    this.refresh();
  }

  /** Joining: the join button works once. */
  disableJoin() {
    $('join-button').disabled = true;
  }

  /** Show the microphone, camera and screen-share state on the buttons. */
  refresh() {
    const mic = this.media.microphoneOff;
    const cam = this.media.cameraOff;
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
    const client = this.getClient();
    const sharing = !!(client && client.publications.has('screen'));
    setButton($('btn-screen'), 'screen', sharing ? 'Stop sharing' : 'Share screen');
    $('btn-screen').classList.toggle('active', sharing);
    $('btn-screen').setAttribute('aria-pressed', String(sharing));
  }

  /** Start or stop sharing the screen (with its sound when the browser offers it). */
  async toggleScreen() {
    const client = this.getClient();
    if (!client || client.state !== ConnectionState.CONNECTED) return;
    try {
      if (client.publications.has('screen')) {
        await client.unpublish('screen');
        await client.unpublish('screen_audio');
      } else {
        await client.publishScreen();
        this.toast('You are sharing your screen.');
      }
    } catch (err) {
      const e = /** @type {{code?: string, message?: string}} */ (err);
      if (e.code !== 'permission_denied') this.toast(errorText(e.code || 'media_error', e.message).title);
    }
    this.refresh();
  }

  /**
   * A button of an extension, in the toolbar's extra slot (`#toolbar-extra`).
   * @param {{id: string, label: string, icon?: string, onClick: (ev: MouseEvent) => void}} spec
   * @returns {HTMLButtonElement}
   */
  static addButton({ id, label, icon, onClick }) {
    const button = document.createElement('button');
    button.type = 'button';
    button.id = id;
    if (icon) setButton(button, icon, label);
    else button.textContent = label;
    button.addEventListener('click', onClick);
    $('toolbar-extra').appendChild(button);
    return button;
  }
}
