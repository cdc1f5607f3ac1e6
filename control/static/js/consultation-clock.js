/**
 * consultation-clock.js — the top bar's clock on the room page: time since the consultation
 * started (`joined.started_at`, else the time of joining), ticking once a second.
 * @module consultation-clock
 */

/**
 * "1:02:03" / "02:03"
 * @param {number} ms
 * @returns {string}
 */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** The clock element, counting from a start time. */
export class ConsultationClock {
  /** @param {HTMLElement} el */
  constructor(el) {
    this.el = el;
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this.timer = undefined;
  }

  /**
   * Count from `startedAtMs` (epoch ms; read again on every tick, so a re-join that moves
   * the start is followed).
   * @param {() => number} startedAtMs
   */
  start(startedAtMs) {
    this.stop();
    const tick = () => { this.el.textContent = formatDuration(Date.now() - startedAtMs()); };
    tick();
    this.timer = setInterval(tick, 1000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
