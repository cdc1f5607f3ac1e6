/**
 * client-roster.js — who else is in the room and what they publish, for the client library.
 *
 * Keeps the other participants and their producers from `joined` (replaced on every re-join,
 * telling the application who left and who is new meanwhile), `participant_joined` / `_left`,
 * `participant_reconnecting`, `track_published` / `_unpublished`, `track_muted` and `camera_problem`, and emits the
 * matching events with the participant attached. Received media is the subscribe leg's.
 * @module client-roster
 */

/** @typedef {import('./client-types.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./client-types.js').ProducerInfo} ProducerInfo */
/** @typedef {import('./client-types.js').EventParticipant} EventParticipant */
/** @typedef {import('./client-types.js').ServerMessage} ServerMessage */

/** The other participants and their producers. */
export class Roster {
  /**
   * @param {object} deps
   * @param {import('./client-types.js').EmitFn} deps.emit  an event of the client
   * @param {() => import('./client-types.js').SelfInfo|null} deps.self  this participant (`joined`), or null
   * @param {import('./client-subscribe.js').SubscribeLeg} deps.subscriber
   */
  constructor({ emit, self, subscriber }) {
    this._emit = emit;
    this._self = self;
    this._subscriber = subscriber;
    /** @type {Map<string, ParticipantInfo>} other participants by participant_id */
    this.participants = new Map();
    /** @type {Map<string, ProducerInfo>} remote producers by producer_id */
    this.producers = new Map();
  }

  /** @param {string} participantId */
  _isSelf(participantId) {
    const self = this._self();
    return !!(self && participantId === self.participant_id);
  }

  /**
   * A participant by id (this one marked `self: true`; a placeholder when unknown).
   * @param {string} participantId
   * @returns {EventParticipant}
   */
  participant(participantId) {
    const self = this._self();
    if (self && participantId === self.participant_id) return { ...self, self: true };
    return this.participants.get(participantId) || { participant_id: participantId, identity: participantId, name: participantId, role: 'guest' };
  }

  /**
   * `joined` (first or again): the room as the server sees it now.
   * @param {ServerMessage} msg
   */
  onJoined(msg) {
    const previousParticipants = this.participants;
    this.participants = new Map();
    for (const p of /** @type {ParticipantInfo[]} */ (msg.participants || [])) {
      if (p.participant_id !== msg.participant_id) this.participants.set(p.participant_id, p);
    }
    this.producers = new Map();
    for (const p of /** @type {ProducerInfo[]} */ (msg.producers || [])) {
      if (p.participant_id !== msg.participant_id) this.producers.set(p.producer_id, p);
    }
    // After a re-join, tell the application who is gone and who is new.
    for (const [id, p] of previousParticipants) {
      if (!this.participants.has(id)) this._emit('participant_left', { participant: p, reason: 'left' });
    }
    for (const [id, p] of this.participants) {
      if (!previousParticipants.has(id)) this._emit('participant_joined', { participant: p });
    }
    for (const producer of this.producers.values()) {
      this._emit('track_published', { producer, participant: this.participant(producer.participant_id) });
    }
  }

  /** @param {ParticipantInfo|undefined} participant */
  onParticipantJoined(participant) {
    if (!participant || this._isSelf(participant.participant_id)) return;
    this.participants.set(participant.participant_id, participant);
    this._emit('participant_joined', { participant });
  }

  /**
   * @param {string} participantId
   * @param {string} reason
   */
  onParticipantLeft(participantId, reason) {
    for (const [producerId, producer] of [...this.producers]) {
      if (producer.participant_id === participantId) this.onTrackUnpublished(producerId);
    }
    const participant = this.participant(participantId);
    this.participants.delete(participantId);
    this._emit('participant_left', { participant, reason });
  }

  /**
   * Another participant's connection dropped or came back (they stay in the roster meanwhile).
   * @param {string} participantId
   * @param {boolean} reconnecting
   */
  onParticipantReconnecting(participantId, reconnecting) {
    if (this._isSelf(participantId)) return;
    this._emit('participant_reconnecting', { participant: this.participant(participantId), reconnecting });
  }

  /** @param {ProducerInfo|undefined} producer */
  onTrackPublished(producer) {
    if (!producer) return;
    if (this._isSelf(producer.participant_id)) return;
    this.producers.set(producer.producer_id, producer);
    this._emit('track_published', { producer, participant: this.participant(producer.participant_id) });
    this._subscriber.onProducerPublished(producer);
  }

  /** @param {string} producerId */
  onTrackUnpublished(producerId) {
    const producer = this.producers.get(producerId);
    this._subscriber.removeRemoteTrack(producerId);
    this.producers.delete(producerId);
    this._subscriber.forgetPreference(producerId);
    if (producer) {
      this._emit('track_unpublished', { producer, participant: this.participant(producer.participant_id) });
    }
  }

  /** @param {ServerMessage} msg `track_muted` */
  onTrackMuted(msg) {
    if (this._isSelf(msg.participant_id)) return; // emitted by setMuted already
    const producer = this.producers.get(msg.producer_id);
    if (producer) producer.muted = msg.muted;
    const remote = this._subscriber.remoteTracks.get(msg.producer_id);
    if (remote) remote.muted = msg.muted;
    this._emit('track_muted', {
      producerId: msg.producer_id,
      participant: this.participant(msg.participant_id),
      source: producer ? producer.source : null,
      kind: producer ? producer.kind : null,
      muted: msg.muted,
      local: false,
    });
  }

  /** @param {ServerMessage} msg `camera_problem` */
  onCameraProblem(msg) {
    this._emit('camera_problem', {
      participant: this.participant(msg.participant_id),
      producerId: msg.producer_id,
      resolved: !!msg.resolved,
      self: this._isSelf(msg.participant_id),
    });
  }
}
