/**
 * consult-client.js — the embeddable browser client of consult-sfu (plain ES module, no build step).
 *
 * Speaks the signalling protocol v1 (signalling/messages.py) over one WebSocket and drives two
 * RTCPeerConnections, as the server expects: *publish* (this client offers) and *subscribe*
 * (the server offers). After a network drop (WebSocket closed, keepalive lost, or ICE failed)
 * the client re-joins with the same token (bounded exponential backoff) and republishes.
 *
 * This file is the entry point: everything public is exported here. {@link ConsultClient}
 * composes the parts next to it and routes the server's messages to them:
 *  - client-session.js     join, waiting room, re-join, leave, `bye`; the connection state
 *  - client-signalling.js  the WebSocket: request ids and replies, keepalive, backoff delays
 *  - client-peers.js       the two peer connections: ICE servers, trickle ICE, ICE failure
 *  - client-publish.js     the publish leg: publishing, offers, mute, send limits, capture
 *  - client-subscribe.js   the subscribe leg: subscribe offers, mid -> producer, track events
 *  - client-roster.js      the other participants and their producers (and their events)
 *  - client-capture.js     getUserMedia / getDisplayMedia with failures as {@link ConsultError}
 *  - client-events.js, consult-error.js  the event emitter and the error type
 *  - client-types.js       the types of the public API (JSDoc, checked by `tsc`; no code):
 *                          every event and its detail is in `ConsultEventMap`
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
 * Events: `client.on(type, fn)`, `fn` receives the event's detail (docs/client.md has the
 * table; client-types.js `ConsultEventMap` the exact shapes). Server messages this library
 * does not handle itself are also emitted under their own type (for extensions).
 *
 * @module consult-client
 */

import { ConsultError } from './consult-error.js';
import { Emitter } from './client-events.js';
import { captureTrack, mediaError } from './client-capture.js';
import { DEFAULT_RECONNECT, PROTOCOL_VERSION, SignallingConnection } from './client-signalling.js';
import { PeerConnections } from './client-peers.js';
import { PublishLeg, SOURCES } from './client-publish.js';
import { SubscribeLeg } from './client-subscribe.js';
import { Roster } from './client-roster.js';
import { ConnectionState, FATAL_ERROR_CODES, Session } from './client-session.js';

export * from './client-types.js';
export { ConnectionState, ConsultError, FATAL_ERROR_CODES, PROTOCOL_VERSION, SOURCES, captureTrack, mediaError };

/** @typedef {import('./client-types.js').ConsultEventMap} ConsultEventMap */
/** @typedef {import('./client-types.js').ServerMessage} ServerMessage */
/** @typedef {import('./client-types.js').Publication} Publication */
/** @typedef {import('./client-types.js').Source} Source */

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
 * @extends {Emitter<ConsultEventMap>}
 */
export class ConsultClient extends Emitter {
  /** @param {import('./client-types.js').ConsultClientOptions} options */
  constructor(options) {
    super();
    if (!options || typeof options.url !== 'string' || !/^wss?:\/\//.test(options.url)) {
      throw new ConsultError('invalid_option', "option 'url' must be the ws:// or wss:// address of the server's /ws endpoint");
    }
    if (typeof options.token !== 'string' || !options.token) {
      throw new ConsultError('invalid_option', "option 'token' must be a non-empty join token");
    }
    /** @type {import('./client-types.js').EmitFn} */
    const emit = (type, detail) => this._emit(type, detail);
    /** @private */
    this._signalling = new SignallingConnection({
      url: options.url,
      WebSocket: options.WebSocket || globalThis.WebSocket,
      openTimeoutMs: options.openTimeoutMs ?? 8000,
      pingIntervalMs: options.pingIntervalMs ?? 10000,
      onMessage: (msg) => this._onMessage(msg),
      onLost: (error, reason) => this._session.onSignallingLost(error, reason),
    });
    /** @private */
    this._peers = new PeerConnections({
      iceServers: () => this._session.iceServers,
      send: (body) => this._signalling.sendRaw(body),
      onMediaState: (pc, state) => emit('media_state', { pc, state }),
      onLost: (reason) => this._session.connectionLost(reason),
    });
    const legs = { signalling: this._signalling, peers: this._peers, emit };
    /** @private */
    this._publisher = new PublishLeg({
      ...legs,
      isConnected: () => this._session.state === ConnectionState.CONNECTED,
      selfParticipant: () => (this._session.self ? { ...this._session.self, self: true } : null),
    });
    /** @private */
    this._subscriber = new SubscribeLeg({
      ...legs, producers: () => this._roster.producers, participant: (id) => this._roster.participant(id),
    });
    /** @private @type {Roster} */
    this._roster = new Roster({ emit, self: () => this._session.self, subscriber: this._subscriber });
    /** @private @type {Session} */
    this._session = new Session({
      token: options.token,
      reconnectPolicy: options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...(options.reconnect || {}) },
      signalling: this._signalling,
      peers: this._peers,
      publisher: this._publisher,
      subscriber: this._subscriber,
      roster: this._roster,
      emit,
    });
    /** Obey `resolution_requested` by scaling the sent video down. */
    this.applyResolutionRequests = options.applyResolutionRequests ?? true;
    /** @type {Map<string, import('./client-types.js').RemoteTrack>} received tracks by producer_id */
    this.remoteTracks = this._subscriber.remoteTracks;
    /** @type {Map<Source, Publication>} local publications by source */
    this.publications = this._publisher.publications;
    /** The two peer connections (null until needed). */
    this.pcs = this._peers.pcs;
  }

  /** One of {@link ConnectionState}. */
  get state() { return this._session.state; }
  /** This participant, from `joined` (null before). */
  get self() { return this._session.self; }
  /** Room settings from `joined.settings` (e.g. `resolution_change_allowed`). */
  get settings() { return this._session.settings; }
  /** Consultation start (epoch ms) from `joined.started_at`, else the time of joining; null before. */
  get startedAt() { return this._session.startedAt; }
  /** The ICE servers of the current join (`joined.ice_servers`). */
  get iceServers() { return this._session.iceServers; }
  /** The join token. */
  get token() { return this._session.token; }
  set token(value) { this._session.token = value; }
  /** Re-join policy after a drop (null: no re-join). */
  get reconnectPolicy() { return this._session.reconnectPolicy; }
  set reconnectPolicy(value) { this._session.reconnectPolicy = value; }
  /** WebSocket URL of the server's `/ws` endpoint. */
  get url() { return this._signalling.url; }
  set url(value) { this._signalling.url = value; }
  /** Keepalive period (ms). */
  get pingIntervalMs() { return this._signalling.pingIntervalMs; }
  set pingIntervalMs(value) { this._signalling.pingIntervalMs = value; }
  /** How long to wait for the WebSocket to open (ms). */
  get openTimeoutMs() { return this._signalling.openTimeoutMs; }
  set openTimeoutMs(value) { this._signalling.openTimeoutMs = value; }
  /** Other participants by participant_id. */
  get participants() { return this._roster.participants; }
  set participants(value) { this._roster.participants = value; }
  /** Remote producers by producer_id. */
  get producers() { return this._roster.producers; }
  set producers(value) { this._roster.producers = value; }
  /** The open WebSocket, or null (for tests and debugging). */
  get _ws() { return this._signalling.ws; }

  /**
   * Build a client from a join URL (`.../room/<room>#token=...`).
   * @param {string} href
   * @param {Omit<import('./client-types.js').ConsultClientOptions, 'url'|'token'>} [options]
   * @returns {ConsultClient}
   */
  static fromJoinUrl(href, options = {}) {
    const { wsUrl, token } = parseJoinUrl(href);
    return new ConsultClient({ ...options, url: wsUrl, token });
  }

  // ------------------------------------------------------------------ session (client-session.js)

  /**
   * Open the WebSocket and join. Resolves with the `joined` detail; while the server keeps the
   * participant in a waiting room it stays pending (state `waiting`, `waiting` events).
   * Rejects with a {@link ConsultError} (e.g. `token_expired`, `too_early`, `server_unreachable`).
   * @returns {Promise<import('./client-types.js').JoinedDetail>}
   */
  connect() {
    return this._session.connect();
  }

  /**
   * Leave the room: tells the server, closes both connections, stops the tracks the client
   * captured itself (publishCamera / publishMicrophone / publishScreen). Idempotent.
   */
  leave() {
    this._session.leave();
  }

  /**
   * Round-trip time of the signalling link: sends `ping` and waits for `pong`.
   * @param {number} [timeoutMs=5000]
   * @returns {Promise<number>} milliseconds
   */
  measureSignallingRtt(timeoutMs = 5000) {
    return this._signalling.measureRtt(timeoutMs);
  }

  // ------------------------------------------------------------------ wire

  /**
   * Send any protocol message (for extensions such as the waiting room). `v` is added.
   * Throws `not_connected` when the WebSocket is not open.
   * @param {string} type
   * @param {Record<string, unknown>} [fields]
   * @returns {string} the message id
   */
  send(type, fields = {}) {
    return this._signalling.send(type, fields);
  }

  /**
   * Send a message and wait for the server's reply carrying the same id (or its error).
   * @param {string} type
   * @param {Record<string, unknown>} [fields]
   * @param {number} [timeoutMs=10000]
   * @returns {Promise<ServerMessage>} the reply message
   */
  request(type, fields = {}, timeoutMs = 10000) {
    return this._signalling.request(type, fields, timeoutMs);
  }

  /**
   * @private
   * @param {ServerMessage} msg
   */
  _onMessage(msg) {
    try {
      this._dispatch(msg);
    } catch (err) {
      const error = new ConsultError('client_error', `handling '${msg.type}' failed: ${/** @type {Error} */ (err).message}`);
      this._emit('error', { error, fatal: false });
    }
    this._emit('message', msg);
  }

  /**
   * Route a server message to the part that handles it.
   * @private
   * @param {ServerMessage} msg
   */
  _dispatch(msg) {
    switch (msg.type) {
      case 'joined': return this._session.onJoined(msg);
      case 'waiting': return this._session.onWaiting(msg);
      case 'error':
        if (!this._signalling.settle(msg)) this._session.onError(msg);
        return undefined;
      case 'bye': return this._session.onBye(msg);
      case 'access_refused':
        this._session.refuse(new ConsultError(msg.reason, msg.message, { message: msg, opensAt: msg.opens_at ?? null }));
        return this._emit('access_refused', msg);
      case 'denied':
        this._session.refuse(new ConsultError('denied', msg.message || 'you were not admitted', { message: msg, userMessage: msg.message || null }));
        return this._emit('denied', msg);
      case 'answer': return this._publisher.onAnswer(msg);
      case 'published': return this._publisher.onPublished(msg);
      case 'subscribe_offer': return this._subscriber.queueOffer(msg);
      case 'candidate': return this._peers.addRemoteCandidate(msg);
      case 'participant_joined': return this._roster.onParticipantJoined(msg.participant);
      case 'participant_left': return this._roster.onParticipantLeft(msg.participant_id, msg.reason || 'left');
      case 'participant_reconnecting': return this._roster.onParticipantReconnecting(msg.participant_id, msg.reconnecting !== false);
      case 'track_published': return this._roster.onTrackPublished(msg.producer);
      case 'track_unpublished': return this._roster.onTrackUnpublished(msg.producer_id);
      case 'track_muted': return this._roster.onTrackMuted(msg);
      case 'resolution_requested': return this._publisher.onResolutionRequested(msg, this.applyResolutionRequests);
      case 'camera_problem': return this._roster.onCameraProblem(msg);
      case 'quality':
        return this._emit('quality', {
          direction: msg.direction || 'receive',
          state: msg.state,
          estimateKbps: msg.estimate_kbps ?? null,
          reduced: msg.reduced || [],
          paused: msg.paused || [],
          limited: msg.limited || [],
        });
      case 'pong': return void this._signalling.settle(msg);
      default:
        if (!this._signalling.settle(msg)) this._emitUnknown(msg.type, msg);
        return undefined;
    }
  }

  // ------------------------------------------------------------------ publishing (client-publish.js)

  /**
   * Publish a local track. Publishing a source that is already published replaces its track.
   * Resolves once the server has confirmed the producer.
   * @param {MediaStreamTrack} track
   * @param {import('./client-types.js').PublishOptions} options
   * @returns {Promise<Publication>}
   */
  publish(track, options) {
    return this._publisher.publish(track, options);
  }

  /**
   * Stop publishing a source. Tells the server (`unpublish`), detaches the track and
   * renegotiates the publish connection (the m-line becomes inactive).
   * @param {Source} source
   * @returns {Promise<void>}
   */
  unpublish(source) {
    return this._publisher.unpublish(source);
  }

  /**
   * Swap the track of a published source without renegotiation (RTCRtpSender.replaceTrack),
   * e.g. after a camera change or a camera problem.
   * @param {Source} source
   * @param {MediaStreamTrack|null} track
   * @param {{ownsTrack?: boolean}} [options]
   * @returns {Promise<void>}
   */
  replaceTrack(source, track, options = {}) {
    return this._publisher.replaceTrack(source, track, options);
  }

  /**
   * Mute or unmute a local source: disables the track and tells the others (`mute`).
   * @param {Source} source
   * @param {boolean} muted
   */
  setMuted(source, muted) {
    this._publisher.setMuted(source, muted);
  }

  /**
   * Limit what is sent for a video source: `maxHeight` scales down (scaleResolutionDownBy),
   * `maxBitrate` caps the encoder (bits/s). Pass `{}` to remove the limits.
   * @param {Source} source
   * @param {import('./client-types.js').SendLimits} limits
   * @returns {Promise<void>}
   */
  setSendLimits(source, limits) {
    return this._publisher.setSendLimits(source, limits);
  }

  /**
   * Capture a camera and publish it.
   * @param {MediaTrackConstraints} [constraints] e.g. {deviceId: {exact: id}, height: {ideal: 720}}
   * @returns {Promise<Publication>}
   */
  publishCamera(constraints = { width: { ideal: 1280 }, height: { ideal: 720 } }) {
    return this._publisher.publishCamera(constraints);
  }

  /**
   * Capture a microphone and publish it.
   * @param {MediaTrackConstraints} [constraints]
   * @returns {Promise<Publication>}
   */
  publishMicrophone(constraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true }) {
    return this._publisher.publishMicrophone(constraints);
  }

  /**
   * Ask the user for a screen (or window) and publish it, with its audio when the browser
   * offers it. Stopping the share from the browser's own UI unpublishes it.
   * @returns {Promise<Publication>}
   */
  publishScreen() {
    return this._publisher.publishScreen();
  }

  /**
   * Statistics of the outgoing media of a source (RTCRtpSender.getStats), or null.
   * @param {Source} source
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
   * @param {import('./client-types.js').SubscriptionPreference} [pref]
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
