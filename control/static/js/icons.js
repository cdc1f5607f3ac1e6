/**
 * icons.js — small inline SVG icons (no icon font, no emoji font needed on kiosk PCs).
 * @module icons
 */

const wrap = (/** @type {string} */ body) => `<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;
const slash = '<line x1="3" y1="3" x2="21" y2="21"/>';

const MIC = '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0"/><line x1="12" y1="18" x2="12" y2="21"/>';
const CAM = '<rect x="2" y="6" width="14" height="12" rx="2"/><path d="M16 10l6-3v10l-6-3z"/>';

/** @type {Record<string, string>} */
export const ICONS = {
  mic: wrap(MIC),
  micOff: wrap(MIC + slash),
  camera: wrap(CAM),
  cameraOff: wrap(CAM + slash),
  screen: wrap('<rect x="2" y="4" width="20" height="13" rx="2"/><line x1="8" y1="21" x2="16" y2="21"/><line x1="12" y1="17" x2="12" y2="21"/><path d="M9 11l3-3 3 3M12 8v6"/>'),
  resolution: wrap('<rect x="2" y="5" width="20" height="14" rx="2"/><path d="M6 9v6M6 12h4M10 9v6M14 9v6h2a3 3 0 0 0 0-6z"/>'),
  pip: wrap('<rect x="2" y="4" width="20" height="16" rx="2"/><rect x="12" y="12" width="7" height="5" rx="1" fill="currentColor"/>'),
  fullscreen: wrap('<path d="M3 9V3h6M21 9V3h-6M3 15v6h6M21 15v6h-6"/>'),
  settings: wrap('<circle cx="12" cy="12" r="3"/><circle cx="12" cy="12" r="8" stroke-width="3" stroke-dasharray="3 2.3"/>'),
  leave: wrap('<path d="M3 14c5-5 13-5 18 0l-2 3-4-1v-3a9 9 0 0 0-6 0v3l-4 1z" fill="currentColor"/>'),
};

/**
 * Put an icon and a label into a button.
 * @param {HTMLElement} button
 * @param {string} icon key of ICONS
 * @param {string} label
 */
export function setButton(button, icon, label) {
  button.innerHTML = `${ICONS[icon]}<span class="button-label">${label}</span>`;
  button.title = label;
  button.setAttribute('aria-label', label);
}
