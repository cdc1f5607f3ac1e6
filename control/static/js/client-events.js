/**
 * client-events.js — the tiny event emitter the client library is built on: a standard
 * EventTarget whose listeners receive the event's detail (`on`), fed by `_emit`. Typed by an
 * event map (type -> detail), so `client.on('track_added', (t) => t.stream)` knows `t`.
 * @module client-events
 */

/**
 * An EventTarget with `on(type, fn)` (fn gets the detail) and `_emit(type, detail)`.
 * @template {object} EventMap  event type -> detail
 */
export class Emitter extends EventTarget {
  /**
   * Listen to an event; the handler receives the event's detail.
   * @template {keyof EventMap & string} K
   * @overload
   * @param {K} type  an event of the map
   * @param {(detail: EventMap[K], event: CustomEvent<EventMap[K]>) => void} handler
   * @returns {() => void} call it to stop listening
   */
  /**
   * Listen to an event the map does not know (e.g. a server message an extension handles).
   * @template {string} T
   * @overload
   * @param {T extends keyof EventMap ? never : T} type
   * @param {(detail: any, event: CustomEvent<any>) => void} handler
   * @returns {() => void} call it to stop listening
   */
  /**
   * @param {string} type
   * @param {(detail: any, event: CustomEvent<any>) => void} handler
   * @returns {() => void}
   */
  on(type, handler) {
    const listener = (/** @type {Event} */ ev) => handler(/** @type {CustomEvent} */ (ev).detail, /** @type {CustomEvent} */ (ev));
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /**
   * @protected
   * @template {keyof EventMap & string} K
   * @param {K} type
   * @param {EventMap[K]} detail
   */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Emit an event the map does not know (a server message under its own type).
   * @protected
   * @param {string} type
   * @param {unknown} detail
   */
  _emitUnknown(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
