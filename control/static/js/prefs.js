/**
 * prefs.js — the user's choices that outlive a page: devices, video fit, resolutions.
 * Stored in localStorage under one key; a browser that refuses storage (private mode,
 * locked-down hospital PCs) just gets the defaults.
 * @module prefs
 */

const KEY = 'consult-sfu.prefs.v1';

/**
 * The remembered choices.
 * @typedef {object} Prefs
 * @property {string|null} cameraId  deviceId chosen on the settings page
 * @property {string|null} microphoneId
 * @property {string} videoFit  "cover" fills the tile (may crop), "contain" shows the whole picture
 * @property {number} sendHeight  most we send (camera): 720, 360 or 180
 * @property {number} receiveHeight  most we receive per video; 0 = no cap
 */

/**
 * Defaults for every preference.
 * @type {Readonly<Prefs>}
 */
export const DEFAULT_PREFS = Object.freeze({
  cameraId: null, // deviceId chosen on the settings page
  microphoneId: null,
  videoFit: 'cover', // "cover" fills the tile (may crop), "contain" shows the whole picture
  sendHeight: 720, // most we send (camera): 720, 360 or 180
  receiveHeight: 0, // most we receive per video; 0 = no cap
});

/** @returns {Prefs} */
export function loadPrefs() {
  try {
    const raw = localStorage.getItem(KEY);
    return { ...DEFAULT_PREFS, ...(raw ? JSON.parse(raw) : {}) };
  } catch (_) {
    return { ...DEFAULT_PREFS };
  }
}

/**
 * Merge `changes` into the stored preferences and return the result.
 * @param {Partial<Prefs>} changes
 * @returns {Prefs}
 */
export function savePrefs(changes) {
  const prefs = { ...loadPrefs(), ...changes };
  try {
    localStorage.setItem(KEY, JSON.stringify(prefs));
  } catch (_) {
    // storage refused: the choice lasts for this page only
  }
  return prefs;
}
