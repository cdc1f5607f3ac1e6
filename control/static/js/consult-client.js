/**
 * consult-client.js — the embeddable browser client of consult-sfu (plain ES module, no build step).
 *
 * Speaks the signalling protocol v1 (signalling/messages.py) over one WebSocket and drives two
 * RTCPeerConnections, as the server expects: *publish* (this client offers) and *subscribe*
 * (the server offers). After a network drop (WebSocket closed, keepalive lost, or ICE failed)
 * the client re-joins with the same token (bounded exponential backoff) and republishes.
 *
 * This file is the entry point: it keeps the session (join, waiting room, re-join, leave),
 * dispatches the server's messages, and composes the parts next to it:
 *  - client-signalling.js  the WebSocket: request ids and replies, keepalive, backoff delays
 *  - client-peers.js       the two peer connections: ICE servers, trickle ICE, ICE failure
 *  - client-publish.js     the publish leg: publishing, offers, mute, send limits, capture
 *  - client-subscribe.js   the subscribe leg: subscribe offers, mid -> producer, track events
 *  - client-roster.js      the other participants and their producers (and their events)
 *  - client-capture.js     getUserMedia / getDisplayMedia with failures as {@link ConsultError}
 *  - client-events.js, consult-error.js  the event emitter and the error type
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

import { ConsultError } from './consult-error.js';
import { Emitter } from './client-events.js';
import { captureTrack, mediaError } from './client-capture.js';
import { DEFAULT_RECONNECT, PROTOCOL_VERSION, SignallingConnection, reconnectDelayMs, sleep } from './client-signalling.js';
import { PeerConnections } from './client-peers.js';
import { PublishLeg, SOURCES } from './client-publish.js';
import { SubscribeLeg } from './client-subscribe.js';
import { Roster } from './client-roster.js';

export { ConsultError, PROTOCOL_VERSION, SOURCES, captureTrack, mediaError };

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
 * The client: one participant in one room.
 * @extends EventTarget
 */
export class ConsultClient extends Emitter {
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
    const emit = (type, detail) => this._emit(type, detail);
    this._signalling = new SignallingConnection({
      url: options.url,
      WebSocket: options.WebSocket || globalThis.WebSocket,
      openTimeoutMs: options.openTimeoutMs ?? 8000,
      pingIntervalMs: options.pingIntervalMs ?? 10000,
      onMessage: (msg) => this._onMessage(msg),
      onLost: (error, reason) => this._onSignallingLost(error, reason),
    });
    this._peers = new PeerConnections({
      iceServers: () => this.iceServers,
      send: (body) => this._sendRaw(body),
      onMediaState: (pc, state) => emit('media_state', { pc, state }),
      onLost: (reason) => this._connectionLost(reason),
    });
    const legs = { signalling: this._signalling, peers: this._peers, emit };
    this._publisher = new PublishLeg({
      ...legs,
      isConnected: () => this.state === ConnectionState.CONNECTED,
      selfParticipant: () => (this.self ? { ...this.self, self: true } : null),
    });
    this._subscriber = new SubscribeLeg({
      ...legs, producers: () => this.producers, participant: (id) => this._roster.participant(id),
    });
    this._roster = new Roster({ emit, self: () => this.self, subscriber: this._subscriber });
    this.token = options.token;
    this.reconnectPolicy = options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...(options.reconnect || {}) };
    this.applyResolutionRequests = options.applyResolutionRequests ?? true;

    /** @type {string} one of {@link ConnectionState} */
    this.state = ConnectionState.NEW;
    /** @type {{participant_id: string, identity: string, name: string, role: string, room: string}|null} */
    this.self = null;
    /** Room settings from `joined.settings` (e.g. `resolution_change_allowed`). */
    this.settings = {};
    /** Consultation start (epoch ms) from `joined.started_at`, else the time of joining. */
    this.startedAt = null;
    this.iceServers = [];
    /** @type {Map<string, object>} received tracks by producer_id */
    this.remoteTracks = this._subscriber.remoteTracks;
    /** @type {Map<string, import('./client-publish.js').Publication>} local publications by source */
    this.publications = this._publisher.publications;
    /** The two peer connections (null until needed). */
    this.pcs = this._peers.pcs;

    this._joinWaiter = null; // the current attempt: settles on joined / waiting / refusal
    this._joinedDeferred = null; // connect()'s promise while kept in a waiting room
    this._closing = false;
    this._reconnecting = false;
  }

  /** WebSocket URL of the server's `/ws` endpoint. */
  get url() { return this._signalling.url; }
  set url(value) { this._signalling.url = value; }
  /** Keepalive period (ms). */
  get pingIntervalMs() { return this._signalling.pingIntervalMs; }
  set pingIntervalMs(value) { this._signalling.pingIntervalMs = value; }
  /** How long to wait for the WebSocket to open (ms). */
  get openTimeoutMs() { return this._signalling.openTimeoutMs; }
  set openTimeoutMs(value) { this._signalling.openTimeoutMs = value; }
  /** @type {Map<string, object>} other participants by participant_id */
  get participants() { return this._roster.participants; }
  set participants(value) { this._roster.participants = value; }
  /** @type {Map<string, object>} remote producers (ProducerInfo) by producer_id */
  get producers() { return this._roster.producers; }
  set producers(value) { this._roster.producers = value; }
  /** The open WebSocket, or null (for tests and debugging). */
  get _ws() { return this._signalling.ws; }

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

  _setState(state, extra = {}) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this._emit('state', { state, previous, ...extra });
  }

  // ------------------------------------------------------------------ session

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

  async _openSession() {
    await this._signalling.open(() => this._closing);
    const attempt = new Promise((resolve, reject) => {
      this._joinWaiter = { resolve, reject };
    });
    this._sendRaw({ type: 'join', token: this.token });
    this._signalling.startKeepalive();
    return attempt; // {joined: detail} or {waiting: message}
  }

  /** Settle the current join attempt (outcome "resolve" or "reject"); false when there is none. */
  _settleJoinAttempt(outcome, value) {
    const waiter = this._joinWaiter;
    if (!waiter) return false;
    this._joinWaiter = null;
    waiter[outcome](value);
    return true;
  }

  _onSignallingLost(error, reason) {
    if (this._settleJoinAttempt('reject', error)) return;
    if (!this._closing) this._connectionLost(reason);
  }

  /**
   * Round-trip time of the signalling link: sends `ping` and waits for `pong`.
   * @param {number} [timeoutMs=5000]
   * @returns {Promise<number>} milliseconds
   */
  measureSignallingRtt(timeoutMs = 5000) {
    return this._signalling.measureRtt(timeoutMs);
  }

  /**
   * Leave the room: tells the server, closes both connections, stops the tracks the client
   * captured itself (publishCamera / publishMicrophone / publishScreen). Idempotent.
   */
  leave() {
    if (this._closing && this.state === ConnectionState.CLOSED) return;
    this._closing = true;
    if (this._joinedDeferred) this._joinedDeferred.reject(new ConsultError('closed', 'the client left'));
    this._sendRaw({ type: 'leave' });
    this._teardownTransport();
    this._publisher.stopOwnedTracks();
    this.publications.clear();
    this._setState(ConnectionState.CLOSED);
  }

  /** Close every transport (socket, peer connections, timers); keeps publications for republishing. */
  _teardownTransport() {
    const closed = () => new ConsultError('closed', 'the connection was closed');
    this._peers.clearIceTimers();
    this._signalling.close();
    this._settleJoinAttempt('reject', closed());
    this._signalling.rejectAll(closed());
    this._subscriber.reset();
    this._peers.closeAll();
    this._publisher.reset();
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
    const { maxAttempts } = this.reconnectPolicy;
    let lastError = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const delayMs = reconnectDelayMs(this.reconnectPolicy, attempt);
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

  _sendRaw(body) {
    return this._signalling.sendRaw(body);
  }

  /**
   * Send any protocol message (for extensions such as the waiting room). `v` is added.
   * @param {string} type
   * @param {object} [fields]
   * @returns {string} the message id
   */
  send(type, fields = {}) {
    return this._signalling.send(type, fields);
  }

  /**
   * Send a message and wait for the server's reply carrying the same id (or its error).
   * @param {string} type
   * @param {object} [fields]
   * @param {number} [timeoutMs=10000]
   * @returns {Promise<object>} the reply message
   */
  request(type, fields = {}, timeoutMs = 10000) {
    return this._signalling.request(type, fields, timeoutMs);
  }

  _onMessage(msg) {
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
      case 'answer': return this._publisher.onAnswer(msg);
      case 'published': return this._publisher.onPublished(msg);
      case 'subscribe_offer': return this._subscriber.queueOffer(msg);
      case 'candidate': return this._peers.addRemoteCandidate(msg);
      case 'participant_joined': return this._roster.onParticipantJoined(msg.participant);
      case 'participant_left': return this._roster.onParticipantLeft(msg.participant_id, msg.reason || 'left');
      case 'track_published': return this._roster.onTrackPublished(msg.producer);
      case 'track_unpublished': return this._roster.onTrackUnpublished(msg.producer_id);
      case 'track_muted': return this._roster.onTrackMuted(msg);
      case 'resolution_requested': return this._publisher.onResolutionRequested(msg, this.applyResolutionRequests);
      case 'camera_problem': return this._roster.onCameraProblem(msg);
      case 'pong': return this._signalling.settle(msg);
      case 'bye': return this._onBye(msg);
      case 'waiting':
        if (this.state !== ConnectionState.CONNECTED) this._setState(ConnectionState.WAITING);
        this._settleJoinAttempt('resolve', { waiting: msg });
        return this._emit('waiting', msg);
      case 'access_refused':
        this._refuseJoin(new ConsultError(msg.reason, msg.message, { message: msg, opensAt: msg.opens_at ?? null }));
        return this._emit('access_refused', msg);
      case 'denied':
        this._refuseJoin(new ConsultError('denied', msg.message || 'you were not admitted', { message: msg, userMessage: msg.message || null }));
        return this._emit('denied', msg);
      default:
        if (!this._signalling.settle(msg)) this._emit(msg.type, msg);
        return undefined;
    }
  }

  /** A refusal while joining fails the attempt; while waiting it ends the client. */
  _refuseJoin(error) {
    if (!this._settleJoinAttempt('reject', error)) this._fail(error);
  }

  _onError(msg) {
    if (this._signalling.settle(msg)) return;
    const error = new ConsultError(msg.code, msg.message, { message: msg });
    if (this._settleJoinAttempt('reject', error)) return;
    this._emit('error', { error, fatal: false });
  }

  _onBye(msg) {
    this._closing = true;
    this._emit('bye', { reason: msg.reason, message: msg.message || null });
    const error = new ConsultError(msg.reason || 'bye', msg.message || `the server ended the session (${msg.reason})`, { userMessage: msg.message || null });
    this._settleJoinAttempt('reject', error);
    this._teardownTransport();
    this._publisher.stopOwnedTracks();
    this._setState(ConnectionState.CLOSED, { reason: msg.reason });
    if (this._joinedDeferred) this._joinedDeferred.reject(error);
  }

  // ------------------------------------------------------------------ the room

  _onJoined(msg) {
    this.self = {
      participant_id: msg.participant_id, identity: msg.identity, name: msg.name, role: msg.role, room: msg.room,
    };
    this.settings = msg.settings || {};
    this.iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
    if (typeof msg.started_at === 'number') this.startedAt = msg.started_at * 1000;
    else if (this.startedAt === null) this.startedAt = Date.now();
    this._roster.onJoined(msg);
    const detail = {
      self: this.self,
      participants: [...this.participants.values()],
      producers: [...this.producers.values()],
      settings: this.settings,
      startedAt: this.startedAt,
      iceServers: this.iceServers,
      reconnected: this._reconnecting,
    };
    this._setState(ConnectionState.CONNECTED);
    this._emit('joined', detail);
    this._settleJoinAttempt('resolve', { joined: detail });
    if (this._joinedDeferred) this._joinedDeferred.resolve(detail);
    this._subscriber.resendPreferences();
    if (this.publications.size) this._publisher.republish();
  }

  // ------------------------------------------------------------------ publishing (client-publish.js)

  /**
   * Publish a local track. Publishing a source that is already published replaces its track.
   * Resolves once the server has confirmed the producer.
   * @param {MediaStreamTrack} track
   * @param {object} options
   * @param {string} options.source microphone | camera | screen | screen_audio
   * @param {boolean} [options.muted=false]
   * @param {boolean} [options.ownsTrack=false] stop the track on unpublish/leave
   * @param {{maxHeight?: number, maxBitrate?: number}} [options.sendLimits]
   * @returns {Promise<import('./client-publish.js').Publication>}
   */
  publish(track, options = {}) {
    return this._publisher.publish(track, options);
  }

  /**
   * Stop publishing a source. Tells the server (`unpublish`), detaches the track and
   * renegotiates the publish connection (the m-line becomes inactive).
   * @param {string} source
   */
  unpublish(source) {
    return this._publisher.unpublish(source);
  }

  /**
   * Swap the track of a published source without renegotiation (RTCRtpSender.replaceTrack),
   * e.g. after a camera change or a camera problem.
   * @param {string} source
   * @param {MediaStreamTrack|null} track
   * @param {{ownsTrack?: boolean}} [options]
   */
  replaceTrack(source, track, options = {}) {
    return this._publisher.replaceTrack(source, track, options);
  }

  /**
   * Mute or unmute a local source: disables the track and tells the others (`mute`).
   * @param {string} source
   * @param {boolean} muted
   */
  setMuted(source, muted) {
    this._publisher.setMuted(source, muted);
  }

  /**
   * Limit what is sent for a video source: `maxHeight` scales down (scaleResolutionDownBy),
   * `maxBitrate` caps the encoder (bits/s). Pass `{}` to remove the limits.
   * @param {string} source
   * @param {{maxHeight?: number, maxBitrate?: number}} limits
   */
  setSendLimits(source, limits) {
    return this._publisher.setSendLimits(source, limits);
  }

  /**
   * Capture a camera and publish it.
   * @param {MediaTrackConstraints} [constraints] e.g. {deviceId: {exact: id}, height: {ideal: 720}}
   * @returns {Promise<import('./client-publish.js').Publication>}
   */
  publishCamera(constraints = { width: { ideal: 1280 }, height: { ideal: 720 } }) {
    return this._publisher.publishCamera(constraints);
  }

  /**
   * Capture a microphone and publish it.
   * @param {MediaTrackConstraints} [constraints]
   * @returns {Promise<import('./client-publish.js').Publication>}
   */
  publishMicrophone(constraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true }) {
    return this._publisher.publishMicrophone(constraints);
  }

  /**
   * Ask the user for a screen (or window) and publish it, with its audio when the browser
   * offers it. Stopping the share from the browser's own UI unpublishes it.
   * @returns {Promise<import('./client-publish.js').Publication>}
   */
  publishScreen() {
    return this._publisher.publishScreen();
  }

  /**
   * Statistics of the outgoing video of a source (RTCRtpSender.getStats), or null.
   * @param {string} source
   * @returns {Promise<RTCStatsReport|null>}
   */
  senderStats(source) {
    return this._publisher.senderStats(source);
  }

  /** @returns {Promise<{publish: RTCStatsReport|null, subscribe: RTCStatsReport|null}>} */
  getStats() {
    return this._peers.getStats();
  }

  // ------------------------------------------------------------------ subscribing (client-subscribe.js)

  /**
   * Per-track preference for what this client receives: a resolution cap or a pause.
   * `producerId` "*" applies to every current and future remote camera (screen shares keep
   * their full resolution unless capped one by one).
   * @param {string} producerId
   * @param {{maxWidth?: number, maxHeight?: number, paused?: boolean}} pref
   */
  setSubscription(producerId, pref = {}) {
    this._subscriber.setSubscription(producerId, pref);
  }

  /**
   * Ask the publisher of a producer to send at most this height (it may decline).
   * @param {string} producerId
   * @param {number} maxHeight
   */
  requestResolution(producerId, maxHeight) {
    this._subscriber.requestResolution(producerId, maxHeight);
  }
}
