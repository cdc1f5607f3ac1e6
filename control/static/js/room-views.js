/**
 * room-views.js — which view of the room page is shown (`body[data-view]`: prejoin, waiting,
 * call, settings, message), the message view (errors, the end of the consultation) and the
 * toasts. Error texts come from texts.js; a `too_early` refusal shows the opening time.
 * @module room-views
 */

import { errorText } from './texts.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Error codes for which the message view offers "Try again" (a reload). */
const RETRYABLE = ['server_unreachable', 'reconnect_failed', 'too_early', 'internal', 'timeout'];

/**
 * The opening time of a too_early refusal, formatted for the user, if the server gave one.
 * @param {{message?: string, details?: Record<string, any>}} error
 * @returns {string|null}
 */
export function openingTime(error) {
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

/** The page's views, its message view and its toasts. */
export class RoomViews {
  /** @param {{onShow?: (name: string) => void}} [hooks] `onShow` runs after a view is shown */
  constructor({ onShow = () => {} } = {}) {
    this.onShow = onShow;
  }

  /** The view shown now. */
  get current() {
    return document.body.dataset.view || '';
  }

  /** @param {string} name prejoin | waiting | call | settings | message */
  show(name) {
    document.body.dataset.view = name;
    this.onShow(name);
  }

  /**
   * @param {string} title
   * @param {string} body
   * @param {{label: string, onClick: () => void}|null} [action] a button under the text
   */
  showMessage(title, body, action = null) {
    $('message-title').textContent = title;
    $('message-body').textContent = body;
    const button = $('message-action');
    button.hidden = !action;
    if (action) {
      button.textContent = action.label;
      button.onclick = action.onClick;
    }
    this.show('message');
  }

  /**
   * An error that ends the page (a refused link, a lost connection...); `body[data-error]` is
   * its code.
   * @param {{code?: string, message?: string, details?: Record<string, any>}} error
   */
  showError(error) {
    const code = error.code || 'internal';
    const opens = code === 'too_early' ? openingTime(error) : null;
    const text = errorText(code, error.message, { time: opens ?? undefined });
    if (code === 'too_early' && !opens && error.message) text.body = `${error.message}. ${text.body}`;
    if (error.details && error.details.userMessage) text.body = error.details.userMessage;
    document.body.dataset.error = code;
    this.showMessage(text.title, text.body, RETRYABLE.includes(code) ? { label: 'Try again', onClick: () => location.reload() } : null);
  }

  /**
   * A short notice at the top of the call for `ms` milliseconds.
   * @param {string} text
   * @param {number} [ms=5000]
   */
  toast(text, ms = 5000) {
    const el = document.createElement('div');
    el.className = 'toast';
    el.textContent = text;
    $('toasts').appendChild(el);
    setTimeout(() => el.remove(), ms);
  }
}
