/**
 * consult-client.js — the embeddable browser client of consult-sfu (plain ES module, no build step).
 *
 * Speaks the signalling protocol v1 (signalling/messages.py) over one WebSocket and drives two
 * RTCPeerConnections, as the server expects:
 *  - *publish*: this client offers (`offer` pc="publish" with `tracks` [{mid, source, muted}]);
 *    the server answers (`answer` pc="publish") and lists the producers it made (`published`).
 *  - *subscribe*: the server offers (`subscribe_offer` with `consumers` [{mid, producer_id, ...}]);
 *    this client answers (`answer` pc="subscribe"). Received tracks are mapped to producers by
 *    transceiver mid, reconciled after every offer (an m-line can be recycled for another producer).
 * Trickle ICE goes out as `candidate`; ICE servers come only from `joined.ice_servers`
 * (never a public STUN default). After a network drop (WebSocket closed, keepalive lost, or ICE
 * failed) the client re-joins with the same token (bounded exponential backoff) and republishes.
 *
 * Minimal use:
 * ```js
 * import { ConsultClient } from '/static/js/consult-client.js';
 * const client = ConsultClient.fromJoinUrl(location.href);
 * client.on('track_added', ({ stream, participant, source }) => { video.srcObject = stream; });
 * await client.connect();
 * await client.publishCamera();
 * await client.publishMicrophone();
 * ```
 *
 * Events (listen with `client.on(type, fn)`; `fn` receives the event's detail object):
 *  - `state`               {state, previous, reason?}  state is one of {@link ConnectionState}
 *  - `joined`              {self, participants, producers, settings, startedAt, iceServers}
 *  - `waiting`             the server's `waiting` message (waiting room) before `joined`;
 *                          `admitted`, `queue`, `announcement`, `consultation_ended` pass through
 *  - `access_refused` / `denied`  joining refused (connect() rejects with that code as well)
 *  - `participant_joined`  {participant}
 *  - `participant_left`    {participant, reason}
 *  - `track_published`     {producer, participant}       a remote producer exists (media may follow)
 *  - `track_unpublished`   {producer, participant}
 *  - `track_added`         {track, stream, kind, source, producerId, participant, muted}
 *  - `track_removed`       {track, kind, source, producerId, participant}
 *  - `track_muted`         {producerId, participant, source, kind, muted, local}
 *  - `local_track_published`   {publication}
 *  - `local_track_unpublished` {publication}
 *  - `resolution_requested` {producerId, maxHeight, source}   (applied automatically unless disabled)
 *  - `camera_problem`      {participant, producerId, resolved, self}
 *  - `reconnect_attempt`   {attempt, maxAttempts, delayMs}
 *  - `media_state`         {pc: "publish"|"subscribe", state}   ICE connection state changes
 *  - `error`               {error: ConsultError, fatal}
 *  - `bye`                 {reason, message}
 *  - `message`             every decoded server message (for extensions, e.g. the waiting room);
 *                          types this library does not know are also emitted under their own type.
 *
 * @module consult-client
 */

export const PROTOCOL_VERSION = 1;

/** Connection states emitted with the `state` event. */
export const ConnectionState = Object.freeze({
  NEW: 'new',
  CONNECTING: 'connecting',
  WAITING: 'waiting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  CLOSED: 'closed',
  FAILED: 'failed',
});

/** Error codes after which re-joining with the same token cannot help. */
export const FATAL_ERROR_CODES = new Set([
  'invalid_token', 'token_expired', 'too_early', 'too_late', 'denied', 'room_ended',
  'room_not_found', 'not_found', 'forbidden', 'unsupported_version', 'ended', 'replaced',
]);

/** Sources a participant can publish (signalling/messages.py `Source`). */
export const SOURCES = Object.freeze(['microphone', 'camera', 'screen', 'screen_audio']);

/**
 * An error with a stable `code` (server error codes such as `token_expired`, plus the client's own:
 * `server_unreachable`, `permission_denied`, `no_device`, `device_busy`, `unsupported`,
 * `timeout`, `reconnect_failed`, `closed`).
 */
export class ConsultError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message human-readable explanation
   * @param {object} [details] extra fields (e.g. the server message that caused it)
   */
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'ConsultError';
    this.code = code;
    this.details = details;
  }
}

/**
 * Parse a join URL (`https://host/room/<room>#token=<jwt>`) into the WebSocket URL and token.
 * A path prefix before `/room/` is kept (deployments behind a reverse-proxy path).
 * @param {string} href
 * @returns {{wsUrl: string, token: string, room: string|null}}
 */
export function parseJoinUrl(href) {
  const url = new URL(href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ''));
  const token = hash.get('token') || url.searchParams.get('token');
  if (!token) throw new ConsultError('invalid_token', 'the link has no token (expected #token=... after the room address)');
  const at = url.pathname.indexOf('/room/');
  const prefix = at >= 0 ? url.pathname.slice(0, at) : '';
  const room = at >= 0 ? decodeURIComponent(url.pathname.slice(at + 6).split('/')[0]) : null;
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return { wsUrl: `${scheme}//${url.host}${prefix}/ws`, token, room };
}

/**
 * Turn a getUserMedia / getDisplayMedia failure into a {@link ConsultError} with a stable code.
 * @param {any} err the DOMException
 * @param {string} what "camera", "microphone" or "screen"
 * @returns {ConsultError}
 */
export function mediaError(err, what) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return new ConsultError('permission_denied', `permission to use the ${what} was denied`, { what, cause: err });
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
    return new ConsultError('no_device', `no ${what} was found`, { what, cause: err });
  }
  if (name === 'NotReadableError' || name === 'AbortError' || name === 'TrackStartError') {
    return new ConsultError('device_busy', `the ${what} could not be started (in use by another program?)`, { what, cause: err });
  }
  if (name === 'TypeError' || name === 'NotSupportedError') {
    return new ConsultError('unsupported', `this browser cannot capture the ${what} here (a secure https page is needed)`, { what, cause: err });
  }
  return new ConsultError('media_error', `the ${what} failed: ${err && err.message ? err.message : err}`, { what, cause: err });
}

/**
 * One local track this client publishes.
 * @typedef {object} Publication
 * @property {string} source       microphone | camera | screen | screen_audio
 * @property {string} kind         audio | video
 * @property {MediaStreamTrack|null} track
 * @property {string|null} producerId  set once the server confirmed it (`published`)
 * @property {boolean} muted
 * @property {{maxHeight?: number, maxBitrate?: number}} sendLimits  re-applied after replaceTrack / reconnect
 */

const DEFAULT_RECONNECT = { maxAttempts: 8, baseDelayMs: 500, maxDelayMs: 8000 };
const SOURCE_KIND = { microphone: 'audio', camera: 'video', screen: 'video', screen_audio: 'audio' };

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The client: one participant in one room.
 * @extends EventTarget
 */
export class ConsultClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.url  WebSocket URL of the server's `/ws` endpoint
   * @param {string} options.token join token (JWT)
   * @param {{maxAttempts?: number, baseDelayMs?: number, maxDelayMs?: number}|false} [options.reconnect]
   *        re-join policy after a drop; `false` disables it
   * @param {number} [options.pingIntervalMs=10000] keepalive period; the link counts as lost after
   *        2.5 periods without any server message
   * @param {number} [options.openTimeoutMs=8000] how long to wait for the WebSocket to open
   * @param {boolean} [options.applyResolutionRequests=true] obey `resolution_requested` by scaling
   *        the sent video down
   * @param {typeof WebSocket} [options.WebSocket] WebSocket implementation (tests)
   */
  constructor(options) {
    super();
    if (!options || typeof options.url !== 'string' || !/^wss?:\/\//.test(options.url)) {
      throw new ConsultError('invalid_option', "option 'url' must be the ws:// or wss:// address of the server's /ws endpoint");
    }
    if (typeof options.token !== 'string' || !options.token) {
      throw new ConsultError('invalid_option', "option 'token' must be a non-empty join token");
    }
    this.url = options.url;
    this.token = options.token;
    this.reconnectPolicy = options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...(options.reconnect || {}) };
    this.pingIntervalMs = options.pingIntervalMs ?? 10000;
    this.openTimeoutMs = options.openTimeoutMs ?? 8000;
    this.applyResolutionRequests = options.applyResolutionRequests ?? true;
    this._WebSocket = options.WebSocket || globalThis.WebSocket;

    /** @type {string} one of {@link ConnectionState} */
    this.state = ConnectionState.NEW;
    /** @type {{participant_id: string, identity: string, name: string, role: string, room: string}|null} */
    this.self = null;
    /** Room settings from `joined.settings` (e.g. `resolution_change_allowed`). */
    this.settings = {};
    /** Consultation start (epoch ms) from `joined.started_at`, else the time of joining. */
    this.startedAt = null;
    this.iceServers = [];
    /** @type {Map<string, object>} other participants by participant_id */
    this.participants = new Map();
    /** @type {Map<string, object>} remote producers (ProducerInfo) by producer_id */
    this.producers = new Map();
    /** @type {Map<string, object>} received tracks by producer_id */
    this.remoteTracks = new Map();
    /** @type {Map<string, Publication>} local publications by source */
    this.publications = new Map();
    /** The two peer connections (null until needed). */
    this.pcs = { publish: null, subscribe: null };

    this._ws = null;
    this._seq = 0;
    this._waiters = new Map(); // request id -> {resolve, reject, timer, type}
    this._joinWaiter = null; // the current attempt: settles on joined / waiting / refusal
    this._joinedDeferred = null; // connect()'s promise while kept in a waiting room
    this._midProducer = new Map(); // subscribe mid -> consumer info
    this._subscribeChain = Promise.resolve();
    this._publishChain = Promise.resolve();
    this._publishQueued = null;
    this._candidateBuffer = { publish: [], subscribe: [] };
    this._signalled = { publish: false, subscribe: false };
    this._pingTimer = null;
    this._lastHeard = 0;
    this._iceTimers = {};
    this._closing = false;
    this._reconnecting = false;
    this._subscriptionPrefs = new Map(); // producer_id -> subscription fields (re-sent after reconnect)
  }

  /**
   * Build a client from a join URL (`.../room/<room>#token=...`).
   * @param {string} href
   * @param {object} [options] same as the constructor's, minus url/token
   * @returns {ConsultClient}
   */
  static fromJoinUrl(href, options = {}) {
    const { wsUrl, token } = parseJoinUrl(href);
    return new ConsultClient({ ...options, url: wsUrl, token });
  }

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

  _setState(state, extra = {}) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this._emit('state', { state, previous, ...extra });
  }

  // ------------------------------------------------------------------ connection

  /**
   * Open the WebSocket and join. Resolves with the `joined` detail; while the server keeps the
   * participant in a waiting room it stays pending (state `waiting`, `waiting` events).
   * Rejects with a {@link ConsultError} (e.g. `token_expired`, `too_early`, `server_unreachable`).
   * @returns {Promise<object>}
   */
  async connect() {
    if (![ConnectionState.NEW, ConnectionState.CLOSED, ConnectionState.FAILED].includes(this.state)) {
      throw new ConsultError('invalid_state', `connect() called while ${this.state}`);
    }
    this._closing = false;
    this._setState(ConnectionState.CONNECTING);
    const joined = {};
    joined.promise = new Promise((resolve, reject) => Object.assign(joined, { resolve, reject }));
    joined.promise.catch(() => {}); // also rejected when nobody waits on it any more
    this._joinedDeferred = joined;
    try {
      const outcome = await this._openSession();
      if (outcome.joined) return outcome.joined;
      return await joined.promise; // in the waiting room until `joined`
    } catch (err) {
      const error = err instanceof ConsultError ? err : new ConsultError('internal', String(err));
      if (this.state !== ConnectionState.FAILED && this.state !== ConnectionState.CLOSED) {
        this._teardownTransport();
        this._setState(ConnectionState.FAILED, { reason: error.code });
        this._emit('error', { error, fatal: true });
      }
      throw error;
    }
  }

  /** A refusal that ends the client (e.g. denied while waiting): no more re-joining. */
  _fail(error) {
    this._closing = true;
    this._teardownTransport();
    this._setState(ConnectionState.FAILED, { reason: error.code });
    this._emit('error', { error, fatal: true });
    if (this._joinedDeferred) this._joinedDeferred.reject(error);
  }

  _openSocket() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WebSocket(this.url);
      } catch (err) {
        reject(new ConsultError('server_unreachable', `cannot open ${this.url}: ${err.message}`));
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

  async _openSession() {
    const ws = await this._openSocket();
    if (this._closing) {
      ws.close();
      throw new ConsultError('closed', 'the client was closed');
    }
    this._ws = ws;
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => this._onSocketClosed(ws, ev);
    ws.onerror = () => {};
    this._lastHeard = Date.now();
    const attempt = new Promise((resolve, reject) => {
      this._joinWaiter = { resolve, reject };
    });
    this._sendRaw({ type: 'join', token: this.token });
    this._startKeepalive();
    return attempt; // {joined: detail} or {waiting: message}
  }

  _onSocketClosed(ws, ev) {
    if (ws !== this._ws) return;
    this._ws = null;
    if (this._joinWaiter) {
      const waiter = this._joinWaiter;
      this._joinWaiter = null;
      waiter.reject(new ConsultError('server_unreachable', `the server closed the connection (${ev.code})`));
      return;
    }
    if (!this._closing) this._connectionLost('signalling connection closed');
  }

  _startKeepalive() {
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => {
      if (!this._ws) return;
      if (Date.now() - this._lastHeard > this.pingIntervalMs * 2.5) {
        const ws = this._ws;
        this._ws = null;
        try { ws.close(); } catch (_) { /* ignore */ }
        if (this._joinWaiter) {
          const waiter = this._joinWaiter;
          this._joinWaiter = null;
          waiter.reject(new ConsultError('server_unreachable', 'the server stopped answering'));
        } else {
          this._connectionLost('keepalive lost');
        }
        return;
      }
      this._sendRaw({ type: 'ping', id: this._nextId() });
    }, this.pingIntervalMs);
  }

  /**
   * Round-trip time of the signalling link: sends `ping` and waits for `pong`.
   * @param {number} [timeoutMs=5000]
   * @returns {Promise<number>} milliseconds
   */
  async measureSignallingRtt(timeoutMs = 5000) {
    const id = this._nextId();
    const started = performance.now();
    const reply = this._expect(id, timeoutMs);
    this._sendRaw({ type: 'ping', id });
    await reply;
    return performance.now() - started;
  }

  /**
   * Leave the room: tells the server, closes both connections, stops the tracks the client
   * captured itself (publishCamera / publishMicrophone / publishScreen). Idempotent.
   */
  leave() {
    if (this._closing && this.state === ConnectionState.CLOSED) return;
    this._closing = true;
    if (this._joinedDeferred) this._joinedDeferred.reject(new ConsultError('closed', 'the client left'));
    if (this._ws && this._ws.readyState === 1) this._sendRaw({ type: 'leave' });
    this._teardownTransport();
    for (const pub of this.publications.values()) {
      if (pub.ownsTrack && pub.track) pub.track.stop();
    }
    this.publications.clear();
    this._setState(ConnectionState.CLOSED);
  }

  /** Close every transport (socket, peer connections, timers); keeps publications for republishing. */
  _teardownTransport() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
    for (const t of Object.values(this._iceTimers)) clearTimeout(t);
    this._iceTimers = {};
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch (_) { /* ignore */ }
    }
    if (this._joinWaiter) {
      this._joinWaiter.reject(new ConsultError('closed', 'the connection was closed'));
      this._joinWaiter = null;
    }
    for (const [id, w] of this._waiters) {
      clearTimeout(w.timer);
      w.reject(new ConsultError('closed', 'the connection was closed'));
      this._waiters.delete(id);
    }
    for (const producerId of [...this.remoteTracks.keys()]) this._removeRemoteTrack(producerId);
    this._midProducer.clear();
    for (const name of ['publish', 'subscribe']) {
      const pc = this.pcs[name];
      if (pc) {
        pc.onicecandidate = pc.oniceconnectionstatechange = null;
        pc.close();
      }
      this.pcs[name] = null;
      this._candidateBuffer[name] = [];
      this._signalled[name] = false;
    }
    this._publishQueued = null;
    this._publishChain = Promise.resolve();
    this._subscribeChain = Promise.resolve();
    for (const pub of this.publications.values()) {
      pub.transceiver = null;
      pub.producerId = null;
    }
  }

  _connectionLost(reason) {
    if (this._closing || this._reconnecting) return;
    if (!this.reconnectPolicy) {
      this._teardownTransport();
      this._setState(ConnectionState.FAILED, { reason });
      this._emit('error', { error: new ConsultError('connection_lost', reason), fatal: true });
      return;
    }
    this._reconnect(reason);
  }

  async _reconnect(reason) {
    this._reconnecting = true;
    this._setState(ConnectionState.RECONNECTING, { reason });
    this._teardownTransport();
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.reconnectPolicy;
    let lastError = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const delayMs = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      this._emit('reconnect_attempt', { attempt, maxAttempts, delayMs });
      await sleep(delayMs);
      if (this._closing) break;
      try {
        await this._openSession();
        this._reconnecting = false;
        return;
      } catch (err) {
        lastError = err;
        this._teardownTransport();
        if (err instanceof ConsultError && FATAL_ERROR_CODES.has(err.code)) break;
      }
    }
    this._reconnecting = false;
    if (this._closing) return;
    const error = lastError instanceof ConsultError && FATAL_ERROR_CODES.has(lastError.code)
      ? lastError
      : new ConsultError('reconnect_failed', 'the connection could not be restored', { cause: lastError });
    this._setState(ConnectionState.FAILED, { reason: error.code });
    this._emit('error', { error, fatal: true });
  }

  // ------------------------------------------------------------------ wire

  _nextId() {
    this._seq += 1;
    return `c${this._seq}`;
  }

  _sendRaw(body) {
    if (!this._ws || this._ws.readyState !== 1) return false;
    this._ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...body }));
    return true;
  }

  /**
   * Send any protocol message (for extensions such as the waiting room). `v` is added.
   * @param {string} type
   * @param {object} [fields]
   * @returns {string} the message id
   */
  send(type, fields = {}) {
    const id = fields.id || this._nextId();
    if (!this._sendRaw({ ...fields, type, id })) {
      throw new ConsultError('not_connected', `cannot send '${type}': not connected`);
    }
    return id;
  }

  /**
   * Send a message and wait for the server's reply carrying the same id (or its error).
   * @param {string} type
   * @param {object} [fields]
   * @param {number} [timeoutMs=10000]
   * @returns {Promise<object>} the reply message
   */
  request(type, fields = {}, timeoutMs = 10000) {
    const id = this._nextId();
    const reply = this._expect(id, timeoutMs);
    this.send(type, { ...fields, id });
    return reply;
  }

  _expect(id, timeoutMs, type = null) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._waiters.delete(id);
        reject(new ConsultError('timeout', `no reply to request ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._waiters.set(id, { resolve, reject, timer, type });
    });
  }

  _settleWaiter(msg) {
    if (!msg.id || !this._waiters.has(msg.id)) return false;
    const waiter = this._waiters.get(msg.id);
    if (msg.type !== 'error' && waiter.type && waiter.type !== msg.type) return false;
    this._waiters.delete(msg.id);
    clearTimeout(waiter.timer);
    if (msg.type === 'error') waiter.reject(new ConsultError(msg.code, msg.message, { message: msg }));
    else waiter.resolve(msg);
    return true;
  }

  _onFrame(data) {
    this._lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_) {
      return; // the server only sends JSON; ignore garbage rather than dying
    }
    if (!msg || typeof msg.type !== 'string') return;
    try {
      this._dispatch(msg);
    } catch (err) {
      this._emit('error', { error: new ConsultError('client_error', `handling '${msg.type}' failed: ${err.message}`), fatal: false });
    }
    this._emit('message', msg);
  }

  _dispatch(msg) {
    switch (msg.type) {
      case 'joined': return this._onJoined(msg);
      case 'error': return this._onError(msg);
      case 'answer': return this._onAnswer(msg);
      case 'published': return this._onPublished(msg);
      case 'subscribe_offer': return this._queueSubscribeOffer(msg);
      case 'candidate': return this._onRemoteCandidate(msg);
      case 'participant_joined': return this._onParticipantJoined(msg.participant);
      case 'participant_left': return this._onParticipantLeft(msg.participant_id, msg.reason || 'left');
      case 'track_published': return this._onTrackPublished(msg.producer);
      case 'track_unpublished': return this._onTrackUnpublished(msg.producer_id);
      case 'track_muted': return this._onTrackMuted(msg);
      case 'resolution_requested': return this._onResolutionRequested(msg);
      case 'camera_problem': return this._onCameraProblem(msg);
      case 'pong': return this._settleWaiter(msg);
      case 'bye': return this._onBye(msg);
      case 'waiting':
        if (this.state !== ConnectionState.CONNECTED) this._setState(ConnectionState.WAITING);
        if (this._joinWaiter) {
          const waiter = this._joinWaiter;
          this._joinWaiter = null;
          waiter.resolve({ waiting: msg });
        }
        return this._emit('waiting', msg);
      case 'access_refused':
        this._refuseJoin(new ConsultError(msg.reason, msg.message, { message: msg, opensAt: msg.opens_at ?? null }));
        return this._emit('access_refused', msg);
      case 'denied':
        this._refuseJoin(new ConsultError('denied', msg.message || 'you were not admitted', { message: msg, userMessage: msg.message || null }));
        return this._emit('denied', msg);
      default:
        if (!this._settleWaiter(msg)) this._emit(msg.type, msg);
        return undefined;
    }
  }

  /** A refusal while joining fails the attempt; while waiting it ends the client. */
  _refuseJoin(error) {
    if (!this._joinWaiter) {
      this._fail(error);
      return;
    }
    const waiter = this._joinWaiter;
    this._joinWaiter = null;
    waiter.reject(error);
  }

  _onError(msg) {
    if (this._settleWaiter(msg)) return;
    const error = new ConsultError(msg.code, msg.message, { message: msg });
    if (this._joinWaiter) {
      const waiter = this._joinWaiter;
      this._joinWaiter = null;
      waiter.reject(error);
      return;
    }
    this._emit('error', { error, fatal: false });
  }

  _onBye(msg) {
    this._closing = true;
    this._emit('bye', { reason: msg.reason, message: msg.message || null });
    const error = new ConsultError(msg.reason || 'bye', msg.message || `the server ended the session (${msg.reason})`, { userMessage: msg.message || null });
    if (this._joinWaiter) {
      const waiter = this._joinWaiter;
      this._joinWaiter = null;
      waiter.reject(error);
    }
    this._teardownTransport();
    for (const pub of this.publications.values()) {
      if (pub.ownsTrack && pub.track) pub.track.stop();
    }
    this._setState(ConnectionState.CLOSED, { reason: msg.reason });
    if (this._joinedDeferred) this._joinedDeferred.reject(error);
  }

  _onJoined(msg) {
    const previousParticipants = this.participants;
    this.self = {
      participant_id: msg.participant_id, identity: msg.identity, name: msg.name, role: msg.role, room: msg.room,
    };
    this.settings = msg.settings || {};
    this.iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
    if (typeof msg.started_at === 'number') this.startedAt = msg.started_at * 1000;
    else if (this.startedAt === null) this.startedAt = Date.now();
    this.participants = new Map();
    for (const p of msg.participants || []) {
      if (p.participant_id !== msg.participant_id) this.participants.set(p.participant_id, p);
    }
    this.producers = new Map();
    for (const p of msg.producers || []) {
      if (p.participant_id !== msg.participant_id) this.producers.set(p.producer_id, p);
    }
    // After a re-join, tell the application who is gone and who is new.
    for (const [id, p] of previousParticipants) {
      if (!this.participants.has(id)) this._emit('participant_left', { participant: p, reason: 'left' });
    }
    const detail = {
      self: this.self,
      participants: [...this.participants.values()],
      producers: [...this.producers.values()],
      settings: this.settings,
      startedAt: this.startedAt,
      iceServers: this.iceServers,
      reconnected: this._reconnecting,
    };
    for (const [id, p] of this.participants) {
      if (!previousParticipants.has(id)) this._emit('participant_joined', { participant: p });
    }
    for (const producer of this.producers.values()) {
      this._emit('track_published', { producer, participant: this._participant(producer.participant_id) });
    }
    this._setState(ConnectionState.CONNECTED);
    this._emit('joined', detail);
    const waiter = this._joinWaiter;
    this._joinWaiter = null;
    if (waiter) waiter.resolve({ joined: detail });
    if (this._joinedDeferred) this._joinedDeferred.resolve(detail);
    this._resendPreferences();
    if (this.publications.size) this._republish();
  }

  _participant(participantId) {
    if (this.self && participantId === this.self.participant_id) return { ...this.self, self: true };
    return this.participants.get(participantId) || { participant_id: participantId, identity: participantId, name: participantId, role: 'guest' };
  }

  _onParticipantJoined(participant) {
    if (!participant || (this.self && participant.participant_id === this.self.participant_id)) return;
    this.participants.set(participant.participant_id, participant);
    this._emit('participant_joined', { participant });
  }

  _onParticipantLeft(participantId, reason) {
    for (const [producerId, producer] of [...this.producers]) {
      if (producer.participant_id === participantId) this._onTrackUnpublished(producerId);
    }
    const participant = this._participant(participantId);
    this.participants.delete(participantId);
    this._emit('participant_left', { participant, reason });
  }

  _onTrackPublished(producer) {
    if (!producer) return;
    if (this.self && producer.participant_id === this.self.participant_id) return;
    this.producers.set(producer.producer_id, producer);
    this._emit('track_published', { producer, participant: this._participant(producer.participant_id) });
    const pref = this._subscriptionPrefs.get('*');
    if (pref && producer.source === 'camera') this._sendSubscription(producer.producer_id, pref);
  }

  _onTrackUnpublished(producerId) {
    const producer = this.producers.get(producerId);
    this._removeRemoteTrack(producerId);
    this.producers.delete(producerId);
    this._subscriptionPrefs.delete(producerId);
    if (producer) {
      this._emit('track_unpublished', { producer, participant: this._participant(producer.participant_id) });
    }
  }

  _onTrackMuted(msg) {
    if (this.self && msg.participant_id === this.self.participant_id) return; // emitted by setMuted already
    const producer = this.producers.get(msg.producer_id);
    if (producer) producer.muted = msg.muted;
    const remote = this.remoteTracks.get(msg.producer_id);
    if (remote) remote.muted = msg.muted;
    this._emit('track_muted', {
      producerId: msg.producer_id,
      participant: this._participant(msg.participant_id),
      source: producer ? producer.source : null,
      kind: producer ? producer.kind : null,
      muted: msg.muted,
      local: false,
    });
  }

  _onCameraProblem(msg) {
    const isSelf = !!(this.self && msg.participant_id === this.self.participant_id);
    this._emit('camera_problem', {
      participant: this._participant(msg.participant_id),
      producerId: msg.producer_id,
      resolved: !!msg.resolved,
      self: isSelf,
    });
  }

  _onResolutionRequested(msg) {
    const pub = [...this.publications.values()].find((p) => p.producerId === msg.producer_id);
    this._emit('resolution_requested', { producerId: msg.producer_id, maxHeight: msg.max_height, source: pub ? pub.source : null });
    if (pub && this.applyResolutionRequests) {
      this.setSendLimits(pub.source, { ...pub.sendLimits, maxHeight: msg.max_height }).catch(() => {});
    }
  }

  // ------------------------------------------------------------------ peer connections

  _createPc(name) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.onicecandidate = (ev) => {
      const c = ev.candidate;
      const body = {
        type: 'candidate',
        pc: name,
        candidate: c && c.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null,
      };
      if (this._signalled[name]) this._sendRaw(body);
      else this._candidateBuffer[name].push(body);
    };
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState;
      this._emit('media_state', { pc: name, state });
      clearTimeout(this._iceTimers[name]);
      if (state === 'failed') {
        this._connectionLost(`${name} media connection failed`);
      } else if (state === 'disconnected') {
        // Short glitches heal by themselves; a longer one needs a fresh join.
        this._iceTimers[name] = setTimeout(() => {
          if (this.pcs[name] === pc && pc.iceConnectionState === 'disconnected') {
            this._connectionLost(`${name} media connection lost`);
          }
        }, 5000);
      }
    };
    this.pcs[name] = pc;
    return pc;
  }

  _flushCandidates(name) {
    this._signalled[name] = true;
    for (const body of this._candidateBuffer[name]) this._sendRaw(body);
    this._candidateBuffer[name] = [];
  }

  async _onRemoteCandidate(msg) {
    const pc = this.pcs[msg.pc];
    if (!pc) return;
    try {
      await pc.addIceCandidate(msg.candidate || null);
    } catch (_) {
      // a candidate for an m-line that is gone: harmless
    }
  }

  // ------------------------------------------------------------------ publishing

  /**
   * Publish a local track. Publishing a source that is already published replaces its track.
   * Resolves once the server has confirmed the producer.
   * @param {MediaStreamTrack} track
   * @param {object} options
   * @param {string} options.source microphone | camera | screen | screen_audio
   * @param {boolean} [options.muted=false]
   * @param {boolean} [options.ownsTrack=false] stop the track on unpublish/leave
   * @param {{maxHeight?: number, maxBitrate?: number}} [options.sendLimits]
   * @returns {Promise<Publication>}
   */
  async publish(track, { source, muted = false, ownsTrack = false, sendLimits = {} } = {}) {
    if (!SOURCE_KIND[source]) throw new ConsultError('invalid_option', `source must be one of ${SOURCES.join(', ')}, got ${source}`);
    if (track && track.kind !== SOURCE_KIND[source]) {
      throw new ConsultError('invalid_option', `a ${source} track must be ${SOURCE_KIND[source]}, got ${track.kind}`);
    }
    const existing = this.publications.get(source);
    if (existing) {
      await this.replaceTrack(source, track, { ownsTrack });
      return existing;
    }
    /** @type {Publication} */
    const pub = {
      source, kind: SOURCE_KIND[source], track, transceiver: null, producerId: null, muted, ownsTrack, sendLimits: { ...sendLimits },
    };
    if (track) track.enabled = !muted;
    this.publications.set(source, pub);
    if (this.state === ConnectionState.CONNECTED) {
      this._addTransceiver(pub);
      await this._negotiatePublish();
      await this._applySendLimits(pub);
    }
    this._emit('local_track_published', { publication: pub });
    return pub;
  }

  _addTransceiver(pub) {
    const pc = this.pcs.publish || this._createPc('publish');
    const init = { direction: 'sendonly', streams: [] };
    if (pub.kind === 'video') init.sendEncodings = [{}];
    const live = pub.track && pub.track.readyState === 'live';
    pub.transceiver = pc.addTransceiver(live ? pub.track : pub.kind, init);
  }

  _negotiatePublish() {
    if (this._publishQueued) return this._publishQueued;
    const run = async () => {
      this._publishQueued = null;
      const pc = this.pcs.publish;
      if (!pc || this.state !== ConnectionState.CONNECTED) return;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const tracks = [];
      for (const pub of this.publications.values()) {
        if (pub.transceiver && pub.transceiver.mid != null) {
          tracks.push({ mid: pub.transceiver.mid, source: pub.source, muted: pub.muted });
        }
      }
      const id = this._nextId();
      const answer = this._expect(id, 15000, 'answer');
      const published = this._expect(`${id}:published`, 15000);
      published.catch(() => {}); // awaited below only if the answer came
      this._pendingPublished = `${id}:published`;
      this._sendRaw({ type: 'offer', id, pc: 'publish', sdp: pc.localDescription.sdp, tracks });
      this._flushCandidates('publish');
      const reply = await answer;
      if (this.pcs.publish !== pc) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
      await published.catch(() => {}); // producers usually follow the answer; do not fail on a slow one
    };
    const next = this._publishChain.then(run, run);
    this._publishChain = next.catch(() => {});
    this._publishQueued = next;
    return next;
  }

  _onAnswer(msg) {
    if (this._settleWaiter(msg)) return;
    // An answer without our id: match it to the oldest waiting publish offer.
    if (msg.pc === 'publish') {
      for (const [id, w] of this._waiters) {
        if (w.type === 'answer') {
          this._waiters.delete(id);
          clearTimeout(w.timer);
          w.resolve(msg);
          return;
        }
      }
    }
  }

  _onPublished(msg) {
    for (const producer of msg.producers || []) {
      const pub = this.publications.get(producer.source);
      if (!pub) continue;
      const first = pub.producerId !== producer.producer_id;
      pub.producerId = producer.producer_id;
      if (first && pub.muted !== !!producer.muted) this._sendRaw({ type: 'mute', producer_id: pub.producerId, muted: pub.muted });
    }
    const key = this._pendingPublished;
    if (key && this._waiters.has(key)) {
      const w = this._waiters.get(key);
      this._waiters.delete(key);
      clearTimeout(w.timer);
      w.resolve(msg);
    }
  }

  async _republish() {
    // Only publications that lost their transceiver (a re-join); others negotiate already.
    const pending = [...this.publications.values()].filter((pub) => !pub.transceiver);
    if (!pending.length) return;
    for (const pub of pending) this._addTransceiver(pub);
    try {
      await this._negotiatePublish();
      for (const pub of pending) await this._applySendLimits(pub);
    } catch (err) {
      this._emit('error', { error: err instanceof ConsultError ? err : new ConsultError('publish_failed', String(err)), fatal: false });
    }
  }

  /**
   * Stop publishing a source. Tells the server (`unpublish`), detaches the track and
   * renegotiates the publish connection (the m-line becomes inactive).
   * @param {string} source
   */
  async unpublish(source) {
    const pub = this.publications.get(source);
    if (!pub) return;
    this.publications.delete(source);
    if (pub.producerId) this._sendRaw({ type: 'unpublish', producer_id: pub.producerId });
    if (pub.ownsTrack && pub.track) pub.track.stop();
    if (pub.transceiver) {
      try {
        await pub.transceiver.sender.replaceTrack(null);
        pub.transceiver.direction = 'inactive';
      } catch (_) { /* the connection is already gone */ }
      if (this.state === ConnectionState.CONNECTED) await this._negotiatePublish().catch(() => {});
    }
    this._emit('local_track_unpublished', { publication: pub });
  }

  /**
   * Swap the track of a published source without renegotiation (RTCRtpSender.replaceTrack),
   * e.g. after a camera change or a camera problem.
   * @param {string} source
   * @param {MediaStreamTrack|null} track
   * @param {{ownsTrack?: boolean}} [options]
   */
  async replaceTrack(source, track, { ownsTrack } = {}) {
    const pub = this.publications.get(source);
    if (!pub) throw new ConsultError('not_published', `${source} is not published`);
    const old = pub.track;
    pub.track = track;
    if (ownsTrack !== undefined) pub.ownsTrack = ownsTrack;
    if (track) track.enabled = !pub.muted;
    if (pub.transceiver) {
      await pub.transceiver.sender.replaceTrack(track);
      await this._applySendLimits(pub);
    }
    if (old && old !== track && pub.ownsTrack) old.stop();
  }

  /**
   * Mute or unmute a local source: disables the track and tells the others (`mute`).
   * @param {string} source
   * @param {boolean} muted
   */
  setMuted(source, muted) {
    const pub = this.publications.get(source);
    if (!pub) return;
    pub.muted = !!muted;
    if (pub.track) pub.track.enabled = !muted;
    if (pub.producerId) this._sendRaw({ type: 'mute', producer_id: pub.producerId, muted: pub.muted });
    this._emit('track_muted', {
      producerId: pub.producerId, participant: this.self ? { ...this.self, self: true } : null, source, kind: pub.kind, muted: pub.muted, local: true,
    });
  }

  /**
   * Limit what is sent for a video source: `maxHeight` scales down (scaleResolutionDownBy),
   * `maxBitrate` caps the encoder (bits/s). Pass `{}` to remove the limits.
   * @param {string} source
   * @param {{maxHeight?: number, maxBitrate?: number}} limits
   */
  async setSendLimits(source, limits) {
    const pub = this.publications.get(source);
    if (!pub) return;
    pub.sendLimits = { ...limits };
    await this._applySendLimits(pub);
  }

  async _applySendLimits(pub) {
    if (!pub.transceiver || pub.kind !== 'video') return;
    const sender = pub.transceiver.sender;
    if (!sender.getParameters || !sender.setParameters) return;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) params.encodings = [{}];
    const enc = params.encodings[0];
    const height = pub.track && pub.track.getSettings ? pub.track.getSettings().height : null;
    const { maxHeight, maxBitrate } = pub.sendLimits || {};
    enc.scaleResolutionDownBy = maxHeight && height && height > maxHeight ? height / maxHeight : 1;
    if (maxBitrate) enc.maxBitrate = maxBitrate;
    else delete enc.maxBitrate;
    try {
      await sender.setParameters(params);
    } catch (err) {
      this._emit('error', { error: new ConsultError('send_limits_failed', `could not limit ${pub.source}: ${err.message}`), fatal: false });
    }
  }

  /**
   * Capture a camera and publish it.
   * @param {MediaTrackConstraints} [constraints] e.g. {deviceId: {exact: id}, height: {ideal: 720}}
   * @returns {Promise<Publication>}
   */
  async publishCamera(constraints = { width: { ideal: 1280 }, height: { ideal: 720 } }) {
    const track = await captureTrack('camera', { video: constraints });
    return this.publish(track, { source: 'camera', ownsTrack: true });
  }

  /**
   * Capture a microphone and publish it.
   * @param {MediaTrackConstraints} [constraints]
   * @returns {Promise<Publication>}
   */
  async publishMicrophone(constraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true }) {
    const track = await captureTrack('microphone', { audio: constraints });
    return this.publish(track, { source: 'microphone', ownsTrack: true });
  }

  /**
   * Ask the user for a screen (or window) and publish it, with its audio when the browser
   * offers it. Stopping the share from the browser's own UI unpublishes it.
   * @returns {Promise<Publication>}
   */
  async publishScreen() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      throw new ConsultError('unsupported', 'this browser cannot share the screen');
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: true });
    } catch (err) {
      throw mediaError(err, 'screen');
    }
    const [video] = stream.getVideoTracks();
    const [audio] = stream.getAudioTracks();
    video.contentHint = 'detail';
    video.addEventListener('ended', () => {
      if (this.publications.get('screen')?.track === video) this.unpublish('screen');
      if (audio && this.publications.get('screen_audio')?.track === audio) this.unpublish('screen_audio');
    });
    const pubs = [this.publish(video, { source: 'screen', ownsTrack: true })];
    if (audio) pubs.push(this.publish(audio, { source: 'screen_audio', ownsTrack: true }));
    const [pub] = await Promise.all(pubs);
    return pub;
  }

  /**
   * Statistics of the outgoing video of a source (RTCRtpSender.getStats), or null.
   * @param {string} source
   * @returns {Promise<RTCStatsReport|null>}
   */
  async senderStats(source) {
    const pub = this.publications.get(source);
    if (!pub || !pub.transceiver) return null;
    return pub.transceiver.sender.getStats();
  }

  /** @returns {Promise<{publish: RTCStatsReport|null, subscribe: RTCStatsReport|null}>} */
  async getStats() {
    const [publish, subscribe] = await Promise.all([
      this.pcs.publish ? this.pcs.publish.getStats() : null,
      this.pcs.subscribe ? this.pcs.subscribe.getStats() : null,
    ]);
    return { publish, subscribe };
  }

  // ------------------------------------------------------------------ subscribing

  /**
   * Per-track preference for what this client receives: a resolution cap or a pause.
   * `producerId` "*" applies to every current and future remote camera (screen shares keep
   * their full resolution unless capped one by one).
   * @param {string} producerId
   * @param {{maxWidth?: number, maxHeight?: number, paused?: boolean}} pref
   */
  setSubscription(producerId, { maxWidth, maxHeight, paused = false } = {}) {
    const pref = { maxWidth, maxHeight, paused };
    this._subscriptionPrefs.set(producerId, pref);
    if (producerId === '*') {
      for (const p of this.producers.values()) {
        if (p.source === 'camera') {
          this._subscriptionPrefs.delete(p.producer_id);
          this._sendSubscription(p.producer_id, pref);
        }
      }
    } else {
      this._sendSubscription(producerId, pref);
    }
  }

  _sendSubscription(producerId, { maxWidth, maxHeight, paused }) {
    const body = { type: 'subscription', producer_id: producerId, paused: !!paused };
    if (maxWidth) body.max_width = maxWidth;
    if (maxHeight) body.max_height = maxHeight;
    this._sendRaw(body);
  }

  _resendPreferences() {
    const all = this._subscriptionPrefs.get('*');
    for (const p of this.producers.values()) {
      if (p.kind !== 'video') continue;
      const pref = this._subscriptionPrefs.get(p.producer_id) || (p.source === 'camera' ? all : null);
      if (pref) this._sendSubscription(p.producer_id, pref);
    }
  }

  /**
   * Ask the publisher of a producer to send at most this height (it may decline).
   * @param {string} producerId
   * @param {number} maxHeight
   */
  requestResolution(producerId, maxHeight) {
    this._sendRaw({ type: 'request_resolution', producer_id: producerId, max_height: Math.round(maxHeight) });
  }

  _queueSubscribeOffer(msg) {
    const run = () => this._onSubscribeOffer(msg);
    this._subscribeChain = this._subscribeChain.then(run, run).catch((err) => {
      this._emit('error', { error: new ConsultError('subscribe_failed', `subscribe negotiation failed: ${err.message}`), fatal: false });
    });
  }

  async _onSubscribeOffer(msg) {
    const pc = this.pcs.subscribe || this._createPc('subscribe');
    const listed = new Map((msg.consumers || []).map((c) => [c.mid, c]));
    await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (this.pcs.subscribe !== pc) return;
    const reply = { type: 'answer', pc: 'subscribe', sdp: pc.localDescription.sdp };
    if (msg.id) reply.id = msg.id;
    this._sendRaw(reply);
    this._flushCandidates('subscribe');
    this._reconcileSubscriptions(pc, listed);
  }

  /** Map every receiving transceiver to the producer it now carries; emit added/removed. */
  _reconcileSubscriptions(pc, listed) {
    for (const t of pc.getTransceivers()) {
      const mid = t.mid;
      if (mid == null) continue;
      const active = !t.stopped && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv');
      const previous = this._midProducer.get(mid) || null;
      const now = active ? (listed.get(mid) || previous) : null;
      if (previous && (!now || now.producer_id !== previous.producer_id)) {
        this._midProducer.delete(mid);
        this._removeRemoteTrack(previous.producer_id);
      }
      if (now && (!previous || now.producer_id !== previous.producer_id || !this.remoteTracks.has(now.producer_id))) {
        this._midProducer.set(mid, now);
        this._addRemoteTrack(now, t.receiver.track, mid);
      }
    }
  }

  _addRemoteTrack(consumer, track, mid) {
    if (this.remoteTracks.has(consumer.producer_id)) this._removeRemoteTrack(consumer.producer_id);
    const producer = this.producers.get(consumer.producer_id);
    const stream = new MediaStream([track]);
    const remote = {
      track,
      stream,
      mid,
      kind: consumer.kind,
      source: consumer.source,
      producerId: consumer.producer_id,
      participant: this._participant(consumer.participant_id),
      muted: producer ? !!producer.muted : false,
    };
    this.remoteTracks.set(consumer.producer_id, remote);
    this._emit('track_added', remote);
  }

  _removeRemoteTrack(producerId) {
    const remote = this.remoteTracks.get(producerId);
    if (!remote) return;
    this.remoteTracks.delete(producerId);
    for (const [mid, c] of this._midProducer) if (c.producer_id === producerId) this._midProducer.delete(mid);
    this._emit('track_removed', {
      track: remote.track, kind: remote.kind, source: remote.source, producerId, participant: remote.participant,
    });
  }
}

/**
 * getUserMedia for one track, with failures mapped to {@link ConsultError}.
 * @param {string} what "camera" or "microphone"
 * @param {MediaStreamConstraints} constraints
 * @returns {Promise<MediaStreamTrack>}
 */
export async function captureTrack(what, constraints) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new ConsultError('unsupported', `this browser cannot use the ${what} here (a secure https page is needed)`);
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    throw mediaError(err, what);
  }
  const [track] = constraints.video ? stream.getVideoTracks() : stream.getAudioTracks();
  return track;
}
