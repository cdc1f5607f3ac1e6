/**
 * client-publish.js — the client library's *publish* leg: what this participant sends.
 *
 * The client offers (`offer` pc="publish" with `tracks` [{mid, source, muted}], mids read from
 * the transceivers after setLocalDescription); the server answers (`answer` pc="publish") and
 * lists the producers it made (`published`). Offers are serialised (one negotiation at a time,
 * requests made meanwhile share the next one). Also: mute, replaceTrack without renegotiation,
 * send limits (scaleResolutionDownBy / maxBitrate, re-applied after a track change or a re-join),
 * obeying `resolution_requested`, and capturing camera, microphone and screen.
 * @module client-publish
 */

import { ConsultError } from './consult-error.js';
import { captureScreen, captureTrack } from './client-capture.js';

/** @typedef {import('./client-types.js').Source} Source */
/** @typedef {import('./client-types.js').Kind} Kind */
/** @typedef {import('./client-types.js').Publication} Publication */
/** @typedef {import('./client-types.js').ServerMessage} ServerMessage */

/**
 * Sources a participant can publish (signalling/messages.py `Source`).
 * @type {readonly Source[]}
 */
export const SOURCES = Object.freeze(['microphone', 'camera', 'screen', 'screen_audio']);
/** @type {Readonly<Record<Source, Kind>>} */
const SOURCE_KIND = Object.freeze({ microphone: 'audio', camera: 'video', screen: 'video', screen_audio: 'audio' });

/** The local publications and the negotiation of the publish peer connection. */
export class PublishLeg {
  /**
   * @param {object} deps
   * @param {import('./client-signalling.js').SignallingConnection} deps.signalling
   * @param {import('./client-peers.js').PeerConnections} deps.peers
   * @param {import('./client-types.js').EmitFn} deps.emit  an event of the client
   * @param {() => boolean} deps.isConnected  joined (state `connected`)
   * @param {() => import('./client-types.js').EventParticipant|null} deps.selfParticipant  this participant, for `track_muted`
   */
  constructor({ signalling, peers, emit, isConnected, selfParticipant }) {
    this._signalling = signalling;
    this._peers = peers;
    this._emit = emit;
    this._isConnected = isConnected;
    this._selfParticipant = selfParticipant;
    /** @type {Map<Source, Publication>} local publications by source */
    this.publications = new Map();
    /** @type {Promise<void>} the negotiations, one after the other */
    this._publishChain = Promise.resolve();
    /** @type {Promise<void>|null} the next negotiation, not started yet (requests made meanwhile share it) */
    this._publishQueued = null;
    /** @type {string|null} the key under which the current offer waits for `published` */
    this._pendingPublished = null;
  }

  /**
   * See ConsultClient#publish.
   * @param {MediaStreamTrack|null} track
   * @param {import('./client-types.js').PublishOptions} options
   * @returns {Promise<Publication>}
   */
  async publish(track, { source, muted = false, ownsTrack = false, sendLimits = {} } = /** @type {any} */ ({})) {
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
    if (this._isConnected()) {
      this._addTransceiver(pub);
      await this._negotiate();
      await this._applySendLimits(pub);
    }
    this._emit('local_track_published', { publication: pub });
    return pub;
  }

  /** @param {Publication} pub */
  _addTransceiver(pub) {
    const pc = this._peers.pcs.publish || this._peers.create('publish');
    /** @type {RTCRtpTransceiverInit} */
    const init = { direction: 'sendonly', streams: [] };
    if (pub.kind === 'video') init.sendEncodings = [{}];
    const live = pub.track && pub.track.readyState === 'live' ? pub.track : null;
    pub.transceiver = pc.addTransceiver(live || pub.kind, init);
  }

  /**
   * Offer the publish connection's current state (serialised; see the module comment).
   * @returns {Promise<void>}
   */
  _negotiate() {
    if (this._publishQueued) return this._publishQueued;
    const signalling = this._signalling;
    const run = async () => {
      this._publishQueued = null;
      const pc = this._peers.pcs.publish;
      if (!pc || !this._isConnected()) return;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const tracks = [];
      for (const pub of this.publications.values()) {
        if (pub.transceiver && pub.transceiver.mid != null) {
          tracks.push({ mid: pub.transceiver.mid, source: pub.source, muted: pub.muted });
        }
      }
      const id = signalling.nextId();
      const answer = signalling.expect(id, 15000, 'answer');
      const published = signalling.expect(`${id}:published`, 15000);
      published.catch(() => {}); // awaited below only if the answer came
      this._pendingPublished = `${id}:published`;
      signalling.sendRaw({ type: 'offer', id, pc: 'publish', sdp: /** @type {RTCSessionDescription} */ (pc.localDescription).sdp, tracks });
      this._peers.flushCandidates('publish');
      const reply = await answer;
      if (this._peers.pcs.publish !== pc) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
      await published.catch(() => {}); // producers usually follow the answer; do not fail on a slow one
    };
    const next = this._publishChain.then(run, run);
    this._publishChain = next.catch(() => {});
    this._publishQueued = next;
    return next;
  }

  /**
   * The server's `answer`.
   * @param {ServerMessage} msg
   */
  onAnswer(msg) {
    if (this._signalling.settle(msg)) return;
    // An answer without our id: match it to the oldest waiting publish offer.
    if (msg.pc === 'publish') this._signalling.resolveOldest('answer', msg);
  }

  /**
   * The server's `published`: the producers of our tracks.
   * @param {ServerMessage} msg
   */
  onPublished(msg) {
    for (const producer of /** @type {import('./client-types.js').ProducerInfo[]} */ (msg.producers || [])) {
      const pub = this.publications.get(producer.source);
      if (!pub) continue;
      const first = pub.producerId !== producer.producer_id;
      pub.producerId = producer.producer_id;
      if (first && pub.muted !== !!producer.muted) this._signalling.sendRaw({ type: 'mute', producer_id: pub.producerId, muted: pub.muted });
    }
    this._signalling.resolve(this._pendingPublished, msg);
  }

  /** After a re-join: publish again what lost its transceiver. */
  async republish() {
    // Only publications that lost their transceiver (a re-join); others negotiate already.
    const pending = [...this.publications.values()].filter((pub) => !pub.transceiver);
    if (!pending.length) return;
    for (const pub of pending) this._addTransceiver(pub);
    try {
      await this._negotiate();
      for (const pub of pending) await this._applySendLimits(pub);
    } catch (err) {
      this._emit('error', { error: err instanceof ConsultError ? err : new ConsultError('publish_failed', String(err)), fatal: false });
    }
  }

  /** The connection is gone: publications stay (to republish) without transceiver or producer. */
  reset() {
    this._publishQueued = null;
    this._publishChain = Promise.resolve();
    for (const pub of this.publications.values()) {
      pub.transceiver = null;
      pub.producerId = null;
    }
  }

  /** Stop the tracks the client captured itself. */
  stopOwnedTracks() {
    for (const pub of this.publications.values()) {
      if (pub.ownsTrack && pub.track) pub.track.stop();
    }
  }

  /**
   * See ConsultClient#unpublish.
   * @param {Source} source
   */
  async unpublish(source) {
    const pub = this.publications.get(source);
    if (!pub) return;
    this.publications.delete(source);
    if (pub.producerId) this._signalling.sendRaw({ type: 'unpublish', producer_id: pub.producerId });
    if (pub.ownsTrack && pub.track) pub.track.stop();
    if (pub.transceiver) {
      try {
        await pub.transceiver.sender.replaceTrack(null);
        pub.transceiver.direction = 'inactive';
      } catch (_) { /* the connection is already gone */ }
      if (this._isConnected()) await this._negotiate().catch(() => {});
    }
    this._emit('local_track_unpublished', { publication: pub });
  }

  /**
   * See ConsultClient#replaceTrack.
   * @param {Source} source
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
   * See ConsultClient#setMuted.
   * @param {Source} source
   * @param {boolean} muted
   */
  setMuted(source, muted) {
    const pub = this.publications.get(source);
    if (!pub) return;
    pub.muted = !!muted;
    if (pub.track) pub.track.enabled = !muted;
    if (pub.producerId) this._signalling.sendRaw({ type: 'mute', producer_id: pub.producerId, muted: pub.muted });
    this._emit('track_muted', {
      producerId: pub.producerId, participant: this._selfParticipant(), source, kind: pub.kind, muted: pub.muted, local: true,
    });
  }

  /**
   * See ConsultClient#setSendLimits.
   * @param {Source} source
   * @param {import('./client-types.js').SendLimits} limits
   */
  async setSendLimits(source, limits) {
    const pub = this.publications.get(source);
    if (!pub) return;
    pub.sendLimits = { ...limits };
    await this._applySendLimits(pub);
  }

  /** @param {Publication} pub */
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
      const reason = /** @type {Error} */ (err).message;
      this._emit('error', { error: new ConsultError('send_limits_failed', `could not limit ${pub.source}: ${reason}`), fatal: false });
    }
  }

  /**
   * The server's `resolution_requested` (`max_height: null`: no limit any more): emitted, and
   * applied to the send limits when `apply`.
   * @param {ServerMessage} msg
   * @param {boolean} apply
   */
  onResolutionRequested(msg, apply) {
    const pub = [...this.publications.values()].find((p) => p.producerId === msg.producer_id);
    this._emit('resolution_requested', { producerId: msg.producer_id, maxHeight: msg.max_height, source: pub ? pub.source : null });
    if (pub && apply) {
      // null: the server asks for the full size again (every subscriber's cap lifted)
      this.setSendLimits(pub.source, { ...pub.sendLimits, maxHeight: msg.max_height ?? undefined }).catch(() => {});
    }
  }

  /**
   * See ConsultClient#publishCamera.
   * @param {MediaTrackConstraints} constraints
   */
  async publishCamera(constraints) {
    const track = await captureTrack('camera', { video: constraints });
    return this.publish(track, { source: 'camera', ownsTrack: true });
  }

  /**
   * See ConsultClient#publishMicrophone.
   * @param {MediaTrackConstraints} constraints
   */
  async publishMicrophone(constraints) {
    const track = await captureTrack('microphone', { audio: constraints });
    return this.publish(track, { source: 'microphone', ownsTrack: true });
  }

  /** See ConsultClient#publishScreen. */
  async publishScreen() {
    const { video, audio } = await captureScreen();
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
   * See ConsultClient#senderStats.
   * @param {Source} source
   * @returns {Promise<RTCStatsReport|null>}
   */
  async senderStats(source) {
    const pub = this.publications.get(source);
    if (!pub || !pub.transceiver) return null;
    return pub.transceiver.sender.getStats();
  }
}
