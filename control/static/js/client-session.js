/**
 * client-session.js — the client library's session: one participant's life in one room.
 *
 * Join (`join` with the token; `joined`, or `waiting` and later `joined`, or a refusal),
 * the connection state ({@link ConnectionState}, the `state` event), re-joining after a drop
 * (the WebSocket closed, the keepalive lost, ICE failed: same token, bounded exponential
 * backoff, then the publications are published again), leaving, and the server's `bye`.
 * What the room contains is the roster's; what is sent and received, the legs'.
 * @module client-session
 */

import { ConsultError } from './consult-error.js';
import { reconnectDelayMs, sleep } from './client-signalling.js';

/** @typedef {import('./client-types.js').ConnectionStateName} ConnectionStateName */
/** @typedef {import('./client-types.js').JoinedDetail} JoinedDetail */
/** @typedef {import('./client-types.js').ServerMessage} ServerMessage */
/** @typedef {{joined: JoinedDetail}|{waiting: ServerMessage}} JoinOutcome */

/** Connection states emitted with the `state` event. */
export const ConnectionState = Object.freeze({
  NEW: /** @type {'new'} */ ('new'),
  CONNECTING: /** @type {'connecting'} */ ('connecting'),
  WAITING: /** @type {'waiting'} */ ('waiting'),
  CONNECTED: /** @type {'connected'} */ ('connected'),
  RECONNECTING: /** @type {'reconnecting'} */ ('reconnecting'),
  CLOSED: /** @type {'closed'} */ ('closed'),
  FAILED: /** @type {'failed'} */ ('failed'),
});

/** Error codes after which re-joining with the same token cannot help. */
export const FATAL_ERROR_CODES = new Set([
  'invalid_token', 'token_expired', 'too_early', 'too_late', 'denied', 'room_ended',
  'room_not_found', 'not_found', 'forbidden', 'unsupported_version', 'ended', 'replaced',
]);

/**
 * A promise with its settle functions.
 * @template T
 * @typedef {{promise: Promise<T>, resolve: (value: T) => void, reject: (error: unknown) => void}} Deferred
 */

/**
 * @template T
 * @returns {Deferred<T>}
 */
function deferred() {
  /** @type {any} */
  const d = {};
  d.promise = new Promise((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
}

/** Joining, re-joining and leaving; the state and what `joined` said about this participant. */
export class Session {
  /**
   * @param {object} deps
   * @param {string} deps.token  the join token
   * @param {import('./client-types.js').ReconnectPolicy|null} deps.reconnectPolicy  null: no re-join
   * @param {import('./client-signalling.js').SignallingConnection} deps.signalling
   * @param {import('./client-peers.js').PeerConnections} deps.peers
   * @param {import('./client-publish.js').PublishLeg} deps.publisher
   * @param {import('./client-subscribe.js').SubscribeLeg} deps.subscriber
   * @param {import('./client-roster.js').Roster} deps.roster
   * @param {import('./client-types.js').EmitFn} deps.emit
   */
  constructor({ token, reconnectPolicy, signalling, peers, publisher, subscriber, roster, emit }) {
    this.token = token;
    this.reconnectPolicy = reconnectPolicy;
    this._signalling = signalling;
    this._peers = peers;
    this._publisher = publisher;
    this._subscriber = subscriber;
    this._roster = roster;
    this._emit = emit;
    /** @type {ConnectionStateName} */
    this.state = ConnectionState.NEW;
    /** @type {import('./client-types.js').SelfInfo|null} */
    this.self = null;
    /** @type {import('./client-types.js').RoomSettings} */
    this.settings = {};
    /** @type {number|null} consultation start, epoch ms */
    this.startedAt = null;
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {{resolve: (outcome: JoinOutcome) => void, reject: (error: unknown) => void}|null} */
    this._joinWaiter = null; // the current attempt: settles on joined / waiting / refusal
    /** @type {Deferred<JoinedDetail>|null} */
    this._joinedDeferred = null; // connect()'s promise while kept in a waiting room
    this._closing = false;
    this._reconnecting = false;
  }

  /**
   * @param {ConnectionStateName} state
   * @param {{reason?: string}} [extra]
   */
  setState(state, extra = {}) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this._emit('state', { state, previous, ...extra });
  }

  /** See ConsultClient#connect. */
  async connect() {
    if (this.state !== ConnectionState.NEW && this.state !== ConnectionState.CLOSED && this.state !== ConnectionState.FAILED) {
      throw new ConsultError('invalid_state', `connect() called while ${this.state}`);
    }
    this._closing = false;
    this.setState(ConnectionState.CONNECTING);
    /** @type {Deferred<JoinedDetail>} */
    const joined = deferred();
    joined.promise.catch(() => {}); // also rejected when nobody waits on it any more
    this._joinedDeferred = joined;
    try {
      const outcome = await this._openSession();
      if ('joined' in outcome) return outcome.joined;
      return await joined.promise; // in the waiting room until `joined`
    } catch (err) {
      const error = err instanceof ConsultError ? err : new ConsultError('internal', String(err));
      if (this.state !== ConnectionState.FAILED && this.state !== ConnectionState.CLOSED) {
        this._teardownTransport();
        this.setState(ConnectionState.FAILED, { reason: error.code });
        this._emit('error', { error, fatal: true });
      }
      throw error;
    }
  }

  /**
   * A refusal that ends the client (e.g. denied while waiting): no more re-joining.
   * @param {ConsultError} error
   */
  _fail(error) {
    this._closing = true;
    this._teardownTransport();
    this.setState(ConnectionState.FAILED, { reason: error.code });
    this._emit('error', { error, fatal: true });
    if (this._joinedDeferred) this._joinedDeferred.reject(error);
  }

  /**
   * Open the WebSocket and send `join`; settles on `joined`, `waiting` or a refusal.
   * @returns {Promise<JoinOutcome>}
   */
  async _openSession() {
    await this._signalling.open(() => this._closing);
    /** @type {Promise<JoinOutcome>} */
    const attempt = new Promise((resolve, reject) => {
      this._joinWaiter = { resolve, reject };
    });
    this._signalling.sendRaw({ type: 'join', token: this.token });
    this._signalling.startKeepalive();
    return attempt;
  }

  /**
   * Settle the current join attempt; false when there is none.
   * @param {'resolve'|'reject'} outcome
   * @param {any} value  a {@link JoinOutcome} to resolve with, an error to reject with
   */
  _settleJoinAttempt(outcome, value) {
    const waiter = this._joinWaiter;
    if (!waiter) return false;
    this._joinWaiter = null;
    waiter[outcome](value);
    return true;
  }

  /**
   * The WebSocket closed or stopped answering.
   * @param {ConsultError} error
   * @param {string} reason
   */
  onSignallingLost(error, reason) {
    if (this._settleJoinAttempt('reject', error)) return;
    if (!this._closing) this.connectionLost(reason);
  }

  /** See ConsultClient#leave. */
  leave() {
    if (this._closing && this.state === ConnectionState.CLOSED) return;
    this._closing = true;
    if (this._joinedDeferred) this._joinedDeferred.reject(new ConsultError('closed', 'the client left'));
    this._signalling.sendRaw({ type: 'leave' });
    this._teardownTransport();
    this._publisher.stopOwnedTracks();
    this._publisher.publications.clear();
    this.setState(ConnectionState.CLOSED);
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

  /**
   * The connection is gone (WebSocket, keepalive or ICE): re-join, or fail without a policy.
   * @param {string} reason
   */
  connectionLost(reason) {
    if (this._closing || this._reconnecting) return;
    if (!this.reconnectPolicy) {
      this._teardownTransport();
      this.setState(ConnectionState.FAILED, { reason });
      this._emit('error', { error: new ConsultError('connection_lost', reason), fatal: true });
      return;
    }
    this._reconnect(this.reconnectPolicy, reason);
  }

  /**
   * @param {import('./client-types.js').ReconnectPolicy} policy
   * @param {string} reason
   */
  async _reconnect(policy, reason) {
    this._reconnecting = true;
    this.setState(ConnectionState.RECONNECTING, { reason });
    this._teardownTransport();
    const { maxAttempts } = policy;
    /** @type {unknown} */
    let lastError = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const delayMs = reconnectDelayMs(policy, attempt);
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
    this.setState(ConnectionState.FAILED, { reason: error.code });
    this._emit('error', { error, fatal: true });
  }

  // ------------------------------------------------------------------ the server's answers

  /** @param {ServerMessage} msg */
  onJoined(msg) {
    this.self = {
      participant_id: msg.participant_id, identity: msg.identity, name: msg.name, role: msg.role, room: msg.room,
    };
    this.settings = msg.settings || {};
    this.iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
    if (typeof msg.started_at === 'number') this.startedAt = msg.started_at * 1000;
    else if (this.startedAt === null) this.startedAt = Date.now();
    this._roster.onJoined(msg);
    /** @type {JoinedDetail} */
    const detail = {
      self: this.self,
      participants: [...this._roster.participants.values()],
      producers: [...this._roster.producers.values()],
      settings: this.settings,
      startedAt: this.startedAt,
      iceServers: this.iceServers,
      reconnected: this._reconnecting,
      resumed: msg.resumed === true,
    };
    this.setState(ConnectionState.CONNECTED);
    this._emit('joined', detail);
    this._settleJoinAttempt('resolve', { joined: detail });
    if (this._joinedDeferred) this._joinedDeferred.resolve(detail);
    this._subscriber.resendPreferences();
    if (this._publisher.publications.size) this._publisher.republish();
  }

  /** @param {ServerMessage} msg `waiting`: kept in the waiting room (connect() stays pending) */
  onWaiting(msg) {
    if (this.state !== ConnectionState.CONNECTED) this.setState(ConnectionState.WAITING);
    this._settleJoinAttempt('resolve', { waiting: msg });
    this._emit('waiting', msg);
  }

  /**
   * `access_refused` / `denied`: while joining it fails the attempt; while waiting it ends the client.
   * @param {ConsultError} error
   */
  refuse(error) {
    if (!this._settleJoinAttempt('reject', error)) this._fail(error);
  }

  /**
   * An `error` nobody waits for: it fails a join attempt, else it is reported (not fatal).
   * @param {ServerMessage} msg
   */
  onError(msg) {
    const error = new ConsultError(msg.code, msg.message, { message: msg });
    if (this._settleJoinAttempt('reject', error)) return;
    this._emit('error', { error, fatal: false });
  }

  /** @param {ServerMessage} msg `bye`: the server ends the session */
  onBye(msg) {
    this._closing = true;
    this._emit('bye', { reason: msg.reason, message: msg.message || null });
    const error = new ConsultError(msg.reason || 'bye', msg.message || `the server ended the session (${msg.reason})`, { userMessage: msg.message || null });
    this._settleJoinAttempt('reject', error);
    this._teardownTransport();
    this._publisher.stopOwnedTracks();
    this.setState(ConnectionState.CLOSED, { reason: msg.reason });
    if (this._joinedDeferred) this._joinedDeferred.reject(error);
  }
}
