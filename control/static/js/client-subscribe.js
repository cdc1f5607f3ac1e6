/**
 * client-subscribe.js — the client library's *subscribe* leg: what this participant receives.
 *
 * The server offers (`subscribe_offer` with `consumers` [{mid, producer_id, ...}]); this
 * client answers (`answer` pc="subscribe"), one offer at a time. Received tracks are mapped to
 * producers by transceiver mid, reconciled after every offer (an m-line can be recycled for
 * another producer), and reported as `track_added` / `track_removed`. Also the receive
 * preferences (`subscription`: a resolution cap or a pause, re-sent after a re-join) and
 * `request_resolution` to a publisher.
 * @module client-subscribe
 */

import { ConsultError } from './consult-error.js';

/** @typedef {import('./client-types.js').ProducerInfo} ProducerInfo */
/** @typedef {import('./client-types.js').RemoteTrack} RemoteTrack */
/** @typedef {import('./client-types.js').ServerMessage} ServerMessage */
/** @typedef {import('./client-types.js').SubscriptionPreference} SubscriptionPreference */

/**
 * One m-line of the subscribe connection: which producer it carries (`ConsumerInfo`).
 * @typedef {object} ConsumerInfo
 * @property {string} mid
 * @property {string} producer_id
 * @property {string} participant_id
 * @property {import('./client-types.js').Kind} kind
 * @property {import('./client-types.js').Source} source
 */

/** Remote tracks, their mids, and the negotiation of the subscribe peer connection. */
export class SubscribeLeg {
  /**
   * @param {object} deps
   * @param {import('./client-signalling.js').SignallingConnection} deps.signalling
   * @param {import('./client-peers.js').PeerConnections} deps.peers
   * @param {import('./client-types.js').EmitFn} deps.emit  an event of the client
   * @param {() => Map<string, ProducerInfo>} deps.producers  the remote producers by producer_id
   * @param {(participantId: string) => import('./client-types.js').EventParticipant} deps.participant  a participant by id
   */
  constructor({ signalling, peers, emit, producers, participant }) {
    this._signalling = signalling;
    this._peers = peers;
    this._emit = emit;
    this._producers = producers;
    this._participant = participant;
    /** @type {Map<string, RemoteTrack>} received tracks by producer_id */
    this.remoteTracks = new Map();
    /** @type {Map<string, ConsumerInfo>} subscribe mid -> the producer it carries */
    this._midProducer = new Map();
    /** @type {Promise<void>} the subscribe offers, answered one after the other */
    this._subscribeChain = Promise.resolve();
    /** @type {Map<string, SubscriptionPreference>} producer_id (or "*") -> preference (re-sent after reconnect) */
    this._subscriptionPrefs = new Map();
  }

  /**
   * See ConsultClient#setSubscription.
   * @param {string} producerId
   * @param {SubscriptionPreference} [pref]
   */
  setSubscription(producerId, { maxWidth, maxHeight, paused = false } = {}) {
    const pref = { maxWidth, maxHeight, paused };
    this._subscriptionPrefs.set(producerId, pref);
    if (producerId === '*') {
      for (const p of this._producers().values()) {
        if (p.source === 'camera') {
          this._subscriptionPrefs.delete(p.producer_id);
          this._sendSubscription(p.producer_id, pref);
        }
      }
    } else {
      this._sendSubscription(producerId, pref);
    }
  }

  /**
   * @param {string} producerId
   * @param {SubscriptionPreference} pref
   */
  _sendSubscription(producerId, { maxWidth, maxHeight, paused }) {
    /** @type {import('./client-types.js').ClientMessage} */
    const body = { type: 'subscription', producer_id: producerId, paused: !!paused };
    if (maxWidth) body.max_width = maxWidth;
    if (maxHeight) body.max_height = maxHeight;
    this._signalling.sendRaw(body);
  }

  /** After a (re-)join: tell the server again what this client wants to receive. */
  resendPreferences() {
    const all = this._subscriptionPrefs.get('*');
    for (const p of this._producers().values()) {
      if (p.kind !== 'video') continue;
      const pref = this._subscriptionPrefs.get(p.producer_id) || (p.source === 'camera' ? all : null);
      if (pref) this._sendSubscription(p.producer_id, pref);
    }
  }

  /**
   * A new remote producer: a camera gets the "every camera" preference.
   * @param {ProducerInfo} producer
   */
  onProducerPublished(producer) {
    const pref = this._subscriptionPrefs.get('*');
    if (pref && producer.source === 'camera') this._sendSubscription(producer.producer_id, pref);
  }

  /**
   * A remote producer is gone: forget the preference made for it.
   * @param {string} producerId
   */
  forgetPreference(producerId) {
    this._subscriptionPrefs.delete(producerId);
  }

  /**
   * See ConsultClient#requestResolution.
   * @param {string} producerId
   * @param {number} maxHeight
   */
  requestResolution(producerId, maxHeight) {
    this._signalling.sendRaw({ type: 'request_resolution', producer_id: producerId, max_height: Math.round(maxHeight) });
  }

  /**
   * The server's `subscribe_offer`: answered after the offers before it.
   * @param {ServerMessage} msg
   */
  queueOffer(msg) {
    const run = () => this._onOffer(msg);
    this._subscribeChain = this._subscribeChain.then(run, run).catch((err) => {
      const error = new ConsultError('subscribe_failed', `subscribe negotiation failed: ${/** @type {Error} */ (err).message}`);
      this._emit('error', { error, fatal: false });
    });
  }

  /** @param {ServerMessage} msg */
  async _onOffer(msg) {
    const pc = this._peers.pcs.subscribe || this._peers.create('subscribe');
    const consumers = /** @type {ConsumerInfo[]} */ (msg.consumers || []);
    const listed = new Map(consumers.map((c) => [c.mid, c]));
    await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (this._peers.pcs.subscribe !== pc) return;
    /** @type {import('./client-types.js').ClientMessage} */
    const reply = { type: 'answer', pc: 'subscribe', sdp: /** @type {RTCSessionDescription} */ (pc.localDescription).sdp };
    if (msg.id) reply.id = msg.id;
    this._signalling.sendRaw(reply);
    this._peers.flushCandidates('subscribe');
    this._reconcile(pc, listed);
  }

  /**
   * Map every receiving transceiver to the producer it now carries; emit added/removed.
   * @param {RTCPeerConnection} pc
   * @param {Map<string, ConsumerInfo>} listed  the m-lines the offer described
   */
  _reconcile(pc, listed) {
    for (const t of pc.getTransceivers()) {
      const mid = t.mid;
      if (mid == null) continue;
      const active = !(/** @type {RTCRtpTransceiver & {stopped?: boolean}} */ (t)).stopped && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv');
      const previous = this._midProducer.get(mid) || null;
      const now = active ? (listed.get(mid) || previous) : null;
      if (previous && (!now || now.producer_id !== previous.producer_id)) {
        this._midProducer.delete(mid);
        this.removeRemoteTrack(previous.producer_id);
      }
      if (now && (!previous || now.producer_id !== previous.producer_id || !this.remoteTracks.has(now.producer_id))) {
        this._midProducer.set(mid, now);
        this._addRemoteTrack(now, t.receiver.track, mid);
      }
    }
  }

  /**
   * @param {ConsumerInfo} consumer
   * @param {MediaStreamTrack} track
   * @param {string} mid
   */
  _addRemoteTrack(consumer, track, mid) {
    if (this.remoteTracks.has(consumer.producer_id)) this.removeRemoteTrack(consumer.producer_id);
    const producer = this._producers().get(consumer.producer_id);
    const stream = new MediaStream([track]);
    /** @type {RemoteTrack} */
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

  /**
   * Drop the received track of a producer (if any) and emit `track_removed`.
   * @param {string} producerId
   */
  removeRemoteTrack(producerId) {
    const remote = this.remoteTracks.get(producerId);
    if (!remote) return;
    this.remoteTracks.delete(producerId);
    for (const [mid, c] of this._midProducer) if (c.producer_id === producerId) this._midProducer.delete(mid);
    this._emit('track_removed', {
      track: remote.track, kind: remote.kind, source: remote.source, producerId, participant: remote.participant,
    });
  }

  /** The connection is gone: every received track ends (preferences are kept). */
  reset() {
    for (const producerId of [...this.remoteTracks.keys()]) this.removeRemoteTrack(producerId);
    this._midProducer.clear();
    this._subscribeChain = Promise.resolve();
  }
}
