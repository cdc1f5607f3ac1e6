/**
 * texts.js — every sentence the pages show, in one place (for translation later).
 * @module texts
 */

/**
 * Messages for error codes: {title, body}. `body` may use {time}.
 * @type {Record<string, {title: string, body: string}>}
 */
export const ERROR_TEXTS = {
  invalid_token: {
    title: 'This link does not work',
    body: 'The link is incomplete or not valid. Please use the link from your invitation, or ask for a new one.',
  },
  token_expired: {
    title: 'This link has expired',
    body: 'Ask your practitioner or the clinic for a new link.',
  },
  too_early: {
    title: 'You are early',
    body: 'The consultation room opens at {time}. Please come back then (this page can stay open: reload it at that time).',
  },
  too_late: {
    title: 'This consultation is over',
    body: 'The time for this consultation has passed. Please contact the clinic for a new appointment.',
  },
  permission_denied: {
    title: 'Camera or microphone blocked',
    body: 'Your browser did not allow the camera or microphone. Click the camera icon in the address bar (or your browser settings), allow them for this site, then reload the page.',
  },
  no_device: {
    title: 'No camera or microphone found',
    body: 'Connect a camera and a microphone (or a headset) and reload the page. You can still join to listen and watch.',
  },
  device_busy: {
    title: 'The camera is in use',
    body: 'Another program (or another browser tab) is using your camera or microphone. Close it and try again.',
  },
  unsupported: {
    title: 'This browser cannot make video calls here',
    body: 'Please use a current version of Chrome, Edge, Firefox or Safari, and open the link over https.',
  },
  server_unreachable: {
    title: 'Cannot reach the consultation server',
    body: 'Check your internet connection and try again. If you are on a company or hospital network, it may block video calls.',
  },
  reconnect_failed: {
    title: 'The connection was lost',
    body: 'We could not reconnect you. Check your internet connection and try again.',
  },
  denied: {
    title: 'You were not admitted',
    body: 'The practitioner did not admit you to this consultation.',
  },
  replaced: {
    title: 'Opened elsewhere',
    body: 'You joined this consultation from another window or device, so this one was closed.',
  },
  ended: {
    title: 'The consultation has ended',
    body: 'Thank you. You can close this page.',
  },
};

/**
 * @param {string} code
 * @param {string} [fallbackMessage]
 * @param {{time?: string|null}} [vars]
 * @returns {{title: string, body: string}}
 */
export function errorText(code, fallbackMessage, vars = {}) {
  const known = ERROR_TEXTS[code];
  const text = known ? { ...known } : { title: 'Something went wrong', body: fallbackMessage || code };
  text.body = text.body.replace('{time}', vars.time || 'the appointment time');
  return text;
}

/** @type {Record<string, string>} */
export const STATE_TEXTS = {
  connecting: 'Connecting…',
  waiting: 'In the waiting room',
  connected: '',
  reconnecting: 'Connection lost — reconnecting…',
  closed: 'Disconnected',
  failed: 'Disconnected',
};
