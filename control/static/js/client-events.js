/**
 * client-events.js — the tiny event emitter the client library is built on: a standard
 * EventTarget whose listeners receive the event's detail (`on`), fed by `_emit`.
 * @module client-events
 */

/** An EventTarget with `on(type, fn)` (fn gets the detail) and `_emit(type, detail)`. */
export class Emitter extends EventTarget {
  /**
   * Listen to an event; the handler receives the event's detail.
   * @param {string} type
   * @param {(detail: any) => void} handler
   * @returns {() => void} call it to stop listening
   */
  on(type, handler) {
    const listener = (ev) => handler(ev.detail, ev);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
