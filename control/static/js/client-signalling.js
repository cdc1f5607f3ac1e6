/**
 * client-signalling.js — the client library's signalling link: one WebSocket speaking the JSON
 * envelope of protocol v1 (`{"v": 1, "type", "id"}`, signalling/codec.py).
 *
 * It opens the socket (with a time limit), numbers requests (`c1`, `c2`, ...) and settles the
 * promise waiting for each reply by id (or rejects it with the server's `error`), keeps the
 * link alive (`ping` every `pingIntervalMs`; lost after 2.5 periods without any server message)
 * and reports a lost link to its owner. What to do then (re-join with the bounded exponential
 * backoff of {@link reconnectDelayMs}) is decided by consult-client.js.
 * @module client-signalling
 */

import { ConsultError } from './consult-error.js';

/** @typedef {import('./client-types.js').ServerMessage} ServerMessage */

/**
 * A request waiting for its reply.
 * @typedef {object} Waiter
 * @property {(msg: ServerMessage) => void} resolve
 * @property {(error: ConsultError) => void} reject
 * @property {ReturnType<typeof setTimeout>} timer
 * @property {string|null} type  only a message of this type (or an `error`) settles it
 */

export const PROTOCOL_VERSION = 1;

/**
 * Re-join policy after a drop, unless the application gives its own.
 * @type {Readonly<import('./client-types.js').ReconnectPolicy>}
 */
export const DEFAULT_RECONNECT = Object.freeze({ maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 8000 });

/**
 * Wait before re-join attempt `attempt` (1, 2, ...): doubles from `baseDelayMs`, at most `maxDelayMs`.
 * @param {{baseDelayMs: number, maxDelayMs: number}} policy
 * @param {number} attempt
 * @returns {number} milliseconds
 */
export function reconnectDelayMs({ baseDelayMs, maxDelayMs }, attempt) {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
}

/** @param {number} ms */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One WebSocket to the server's `/ws`, with request ids, reply waiters and a keepalive. */
export class SignallingConnection {
  /**
   * @param {object} options
   * @param {string} options.url  ws:// or wss:// address of `/ws`
   * @param {typeof WebSocket} options.WebSocket  WebSocket implementation
   * @param {number} options.openTimeoutMs  how long to wait for the socket to open
   * @param {number} options.pingIntervalMs  keepalive period
   * @param {(msg: ServerMessage) => void} options.onMessage  every decoded server message
   * @param {(error: ConsultError, reason: string) => void} options.onLost  the socket closed or
   *        the server stopped answering (not called after {@link SignallingConnection#close})
   */
  constructor({ url, WebSocket, openTimeoutMs, pingIntervalMs, onMessage, onLost }) {
    this.url = url;
    this.openTimeoutMs = openTimeoutMs;
    this.pingIntervalMs = pingIntervalMs;
    this._WebSocket = WebSocket;
    this._onMessage = onMessage;
    this._onLost = onLost;
    /** @type {WebSocket|null} the open socket */
    this.ws = null;
    this._seq = 0;
    /** @type {Map<string, Waiter>} request id -> who waits for its reply */
    this._waiters = new Map();
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this._pingTimer = undefined;
    this._lastHeard = 0;
  }

  /** @returns {Promise<WebSocket>} */
  _openSocket() {
    return new Promise((resolve, reject) => {
      /** @type {WebSocket} */
      let ws;
      try {
        ws = new this._WebSocket(this.url);
      } catch (err) {
        reject(new ConsultError('server_unreachable', `cannot open ${this.url}: ${/** @type {Error} */ (err).message}`));
        return;
      }
      const timer = setTimeout(() => {
        ws.onopen = ws.onerror = ws.onclose = null;
        try { ws.close(); } catch (_) { /* already closed */ }
        reject(new ConsultError('server_unreachable', 'the server did not answer in time'));
      }, this.openTimeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(ws);
      };
      ws.onerror = ws.onclose = () => {
        clearTimeout(timer);
        ws.onopen = ws.onerror = ws.onclose = null;
        reject(new ConsultError('server_unreachable', 'the server cannot be reached'));
      };
    });
  }

  /**
   * Open the socket and start listening to it.
   * @param {() => boolean} isCancelled  checked once the socket is open: true closes it again
   *        and rejects with `closed` (the client was closed meanwhile)
   */
  async open(isCancelled) {
    const ws = await this._openSocket();
    if (isCancelled()) {
      ws.close();
      throw new ConsultError('closed', 'the client was closed');
    }
    this.ws = ws;
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => this._onClosed(ws, ev);
    ws.onerror = () => {};
    this._lastHeard = Date.now();
  }

  /**
   * @param {WebSocket} ws
   * @param {CloseEvent} ev
   */
  _onClosed(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    this._onLost(new ConsultError('server_unreachable', `the server closed the connection (${ev.code})`), 'signalling connection closed');
  }

  startKeepalive() {
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this._lastHeard > this.pingIntervalMs * 2.5) {
        const ws = this.ws;
        this.ws = null;
        try { ws.close(); } catch (_) { /* ignore */ }
        this._onLost(new ConsultError('server_unreachable', 'the server stopped answering'), 'keepalive lost');
        return;
      }
      this.sendRaw({ type: 'ping', id: this.nextId() });
    }, this.pingIntervalMs);
  }

  /** Stop the keepalive and close the socket without reporting it as lost. */
  close() {
    clearInterval(this._pingTimer);
    this._pingTimer = undefined;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch (_) { /* ignore */ }
    }
  }

  /**
   * Reject every request still waiting for its reply.
   * @param {ConsultError} error
   */
  rejectAll(error) {
    for (const [id, w] of this._waiters) {
      clearTimeout(w.timer);
      w.reject(error);
      this._waiters.delete(id);
    }
  }

  /** @returns {string} a fresh request id */
  nextId() {
    this._seq += 1;
    return `c${this._seq}`;
  }

  /**
   * Send a message if the socket is open (`v` is added); false when it is not.
   * @param {import('./client-types.js').ClientMessage} body
   * @returns {boolean}
   */
  sendRaw(body) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...body }));
    return true;
  }

  /**
   * Like sendRaw, but throws `not_connected`; returns the message id.
   * @param {string} type
   * @param {Record<string, unknown>} [fields]
   * @returns {string}
   */
  send(type, fields = {}) {
    const id = /** @type {string|undefined} */ (fields.id) || this.nextId();
    if (!this.sendRaw({ ...fields, type, id })) {
      throw new ConsultError('not_connected', `cannot send '${type}': not connected`);
    }
    return id;
  }

  /**
   * Send a message and wait for the reply carrying the same id (or its error).
   * @param {string} type
   * @param {Record<string, unknown>} [fields]
   * @param {number} [timeoutMs=10000]
   * @returns {Promise<ServerMessage>}
   */
  request(type, fields = {}, timeoutMs = 10000) {
    const id = this.nextId();
    const reply = this.expect(id, timeoutMs);
    this.send(type, { ...fields, id });
    return reply;
  }

  /**
   * Round-trip time of the link (ms): `ping`, then wait for its `pong`.
   * @param {number} [timeoutMs=5000]
   * @returns {Promise<number>}
   */
  async measureRtt(timeoutMs = 5000) {
    const id = this.nextId();
    const started = performance.now();
    const reply = this.expect(id, timeoutMs);
    this.sendRaw({ type: 'ping', id });
    await reply;
    return performance.now() - started;
  }

  /**
   * A promise for the server's message with this id (`timeout` after `timeoutMs`).
   * @param {string} id  the request id (or any key settled with {@link SignallingConnection#resolve})
   * @param {number} timeoutMs
   * @param {string|null} [type]  only a message of this type (or an `error`) settles it
   * @returns {Promise<ServerMessage>}
   */
  expect(id, timeoutMs, type = null) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._waiters.delete(id);
        reject(new ConsultError('timeout', `no reply to request ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._waiters.set(id, { resolve, reject, timer, type });
    });
  }

  /**
   * Settle the waiter of a server message by its id; false when nobody waits for it.
   * @param {ServerMessage} msg
   * @returns {boolean}
   */
  settle(msg) {
    const waiter = msg.id ? this._waiters.get(msg.id) : undefined;
    if (!msg.id || !waiter) return false;
    if (msg.type !== 'error' && waiter.type && waiter.type !== msg.type) return false;
    this._waiters.delete(msg.id);
    clearTimeout(waiter.timer);
    if (msg.type === 'error') waiter.reject(new ConsultError(msg.code, msg.message, { message: msg }));
    else waiter.resolve(msg);
    return true;
  }

  /**
   * Resolve the waiter under `key` with `msg`, if there is one.
   * @param {string|null} key
   * @param {ServerMessage} msg
   * @returns {boolean}
   */
  resolve(key, msg) {
    const w = key ? this._waiters.get(key) : undefined;
    if (!key || !w) return false;
    this._waiters.delete(key);
    clearTimeout(w.timer);
    w.resolve(msg);
    return true;
  }

  /**
   * Resolve the oldest waiter expecting a message of `type` (a reply that lost its id).
   * @param {string} type
   * @param {ServerMessage} msg
   * @returns {boolean}
   */
  resolveOldest(type, msg) {
    for (const [id, w] of this._waiters) {
      if (w.type === type) return this.resolve(id, msg);
    }
    return false;
  }

  /** @param {unknown} data a text frame */
  _onFrame(data) {
    this._lastHeard = Date.now();
    /** @type {ServerMessage|null} */
    let msg;
    try {
      msg = JSON.parse(/** @type {string} */ (data));
    } catch (_) {
      return; // the server only sends JSON; ignore garbage rather than dying
    }
    if (!msg || typeof msg.type !== 'string') return;
    this._onMessage(msg);
  }
}
