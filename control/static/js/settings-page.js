/**
 * settings-page.js — entry of the stand-alone settings page (/settings): devices, preview,
 * microphone level, echo test. `?return=/room/...` (a same-origin path) adds a way back.
 * @module settings-page
 */

import { SettingsView } from './settings-view.js';

/** Only a path on this server may be a return target (no open redirect). */
export function safeReturnUrl(search) {
  const target = new URLSearchParams(search).get('return');
  if (!target || !target.startsWith('/') || target.startsWith('//') || target.includes('\\')) return null;
  return target;
}

const view = new SettingsView(document.getElementById('settings-view'), {
  mode: 'page',
  returnUrl: safeReturnUrl(location.search),
});
window.consult = { settings: view };
view.open();
window.addEventListener('pagehide', () => view.close());
