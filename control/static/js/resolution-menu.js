/**
 * resolution-menu.js — the toolbar's resolution menu on the room page: what this participant
 * sends from the camera (720p / 360p / 180p: a height and a bitrate cap, `setSendLimits`) and
 * the most it receives of every camera (`setSubscription('*', {maxHeight})`). Both choices
 * are remembered (prefs.js). The button is hidden when the room's settings say
 * `resolution_change_allowed: false`.
 * @module resolution-menu
 */

import { loadPrefs, savePrefs } from './prefs.js';
import { popover } from './popover.js';

/** @typedef {import('./consult-client.js').ConsultClient} ConsultClient */

/** What "I send" means for the camera, by the height chosen. */
export const SEND_PRESETS = Object.freeze({
  720: { maxHeight: 720, maxBitrate: 1_500_000 },
  360: { maxHeight: 360, maxBitrate: 600_000 },
  180: { maxHeight: 180, maxBitrate: 200_000 },
});

/**
 * The send limits of a height chosen in the menu (no limits for an unknown one).
 * @param {number} height
 * @returns {{maxHeight?: number, maxBitrate?: number}}
 */
export function sendPreset(height) {
  return /** @type {Record<number, {maxHeight: number, maxBitrate: number}>} */ (SEND_PRESETS)[height] || {};
}

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The menu behind `#btn-resolution` (`#resolution-panel` with its two selects). */
export class ResolutionMenu {
  /** @param {() => ConsultClient|null} getClient */
  constructor(getClient) {
    this.getClient = getClient;
    this.button = $('btn-resolution');
    this.menu = popover(this.button, $('resolution-panel')); // closes on a click elsewhere or Escape
    this.button.addEventListener('click', (ev) => this.menu.toggle(ev));
    const send = /** @type {HTMLSelectElement} */ ($('send-resolution'));
    const receive = /** @type {HTMLSelectElement} */ ($('receive-resolution'));
    const prefs = loadPrefs();
    send.value = String(prefs.sendHeight);
    receive.value = String(prefs.receiveHeight);
    send.addEventListener('change', () => this.setSendHeight(Number(send.value)));
    receive.addEventListener('change', () => this.setReceiveHeight(Number(receive.value)));
  }

  /** @param {number} height */
  async setSendHeight(height) {
    savePrefs({ sendHeight: height });
    const client = this.getClient();
    if (client) await client.setSendLimits('camera', sendPreset(height));
  }

  /** @param {number} height 0: no cap */
  setReceiveHeight(height) {
    savePrefs({ receiveHeight: height });
    const client = this.getClient();
    if (client) client.setSubscription('*', height ? { maxHeight: height } : {});
  }

  /**
   * Joined: the room's settings decide whether the menu is offered; the remembered receive
   * cap is asked for again.
   * @param {ConsultClient} client
   * @param {Record<string, unknown>} settings
   */
  onJoined(client, settings) {
    const allowed = settings.resolution_change_allowed !== false;
    this.button.hidden = !allowed;
    if (!allowed) this.menu.close();
    const { receiveHeight } = loadPrefs();
    if (receiveHeight && allowed) client.setSubscription('*', { maxHeight: receiveHeight });
  }
}
