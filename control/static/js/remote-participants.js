/**
 * remote-participants.js — the other participants on the room page: a camera tile per person
 * (name, microphone-off mark, camera-off avatar, the "camera stopped" and "reconnecting…" notices), a tile per
 * screen share, an `<audio>` per microphone, and the top bar's "Consultation with ...".
 * Fed by the client's events (see {@link RemoteParticipants#attach}); this participant's own
 * tile ("self") is room.js's, and tracks of `participant.self` are left to effects-panel.js.
 * @module remote-participants
 */

/** @typedef {import('./consult-client.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./consult-client.js').EventParticipant} EventParticipant */
/** @typedef {import('./consult-client.js').ProducerInfo} ProducerInfo */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** What the page shows of the others. */
export class RemoteParticipants {
  /**
   * @param {object} deps
   * @param {import('./tiles.js').Stage} deps.stage
   * @param {() => import('./consult-client.js').ConsultClient|null} deps.getClient
   * @param {(text: string) => void} deps.toast
   */
  constructor({ stage, getClient, toast }) {
    this.stage = stage;
    this.getClient = getClient;
    this.toast = toast;
    /** @type {Map<string, {producerId: string, muted: boolean}>} participant_id -> its microphone */
    this.micState = new Map();
    /** @type {Map<string, string>} participant_id -> camera producer_id shown in its tile */
    this.cameraOf = new Map();
    /** @type {Map<string, HTMLAudioElement>} producer_id -> <audio> */
    this.audioEls = new Map();
  }

  /**
   * Follow a client's participants and tracks.
   * @param {import('./consult-client.js').ConsultClient} client
   */
  attach(client) {
    client.on('participant_joined', ({ participant }) => this.upsertParticipant(participant));
    client.on('participant_left', ({ participant }) => this.removeParticipant(participant.participant_id));
    client.on('track_published', ({ producer, participant }) => this.onProducer(producer, participant));
    client.on('track_unpublished', ({ producer }) => this.onProducerGone(producer));
    client.on('track_added', (remote) => this.onTrackAdded(remote));
    client.on('track_removed', (remote) => this.onTrackRemoved(remote));
    client.on('track_muted', (ev) => this.onTrackMuted(ev));
    client.on('camera_problem', (ev) => this.onRemoteCameraProblem(ev));
    client.on('participant_reconnecting', (ev) => this.onReconnecting(ev));
    client.on('quality', (ev) => this.onQuality(ev));
  }

  /**
   * Their connection dropped: the tile stays, marked, until they are back or have left.
   * @param {import('./consult-client.js').ParticipantReconnectingEvent} ev
   */
  onReconnecting({ participant, reconnecting }) {
    const tile = this.stage.get(`cam:${participant.participant_id}`);
    if (!tile) return;
    tile.setNotice(reconnecting ? `${participant.name || 'This participant'}'s connection dropped — reconnecting…` : null);
    tile.el.classList.toggle('reconnecting', reconnecting);
  }

  /**
   * Our link carries less than every video at its best (the server chose smaller pictures or
   * paused videos to keep audio): say so on the tiles concerned, clear it when it is over.
   * @param {import('./client-types.js').QualityEvent} ev
   */
  onQuality({ direction, state, reduced, paused }) {
    if (direction === 'send') {
      if (state === 'limited') this.toast('Your connection is slow: the others see you at a lower quality.');
      return;
    }
    /** @type {Map<string, string>} */
    const notices = new Map();
    for (const id of reduced) notices.set(id, 'Poor connection — lower resolution');
    for (const id of paused) notices.set(id, 'Video paused to keep audio');
    for (const [key, tile] of this.stage.tiles) {
      if (tile.self || tile.el.classList.contains('camera-problem')) continue;
      const producerId = key.startsWith('screen:') ? key.slice('screen:'.length) : this.cameraOf.get(tile.participantId || '');
      const notice = producerId ? notices.get(producerId) : undefined;
      if (notice) tile.setNotice(notice);
      else if (tile.el.classList.contains('poor-connection')) tile.setNotice(null);
      tile.el.classList.toggle('poor-connection', !!notice);
    }
  }

  /** Top bar: who the consultation is with. */
  refreshTitle() {
    const client = this.getClient();
    const others = client ? [...client.participants.values()] : [];
    const names = others.map((p) => p.name || p.identity);
    $('room-title').textContent = names.length === 0
      ? 'Waiting for the others to join'
      : names.length === 1 ? `Consultation with ${names[0]}` : `${names.length + 1} participants`;
  }

  /** @param {ParticipantInfo} p */
  upsertParticipant(p) {
    this.refreshTitle();
    const tile = this.stage.upsert(`cam:${p.participant_id}`, { kind: 'camera', name: p.name || p.identity, participantId: p.participant_id });
    if (!this.micState.has(p.participant_id)) tile.setAudioMuted(true); // no microphone yet
    return tile;
  }

  /** @param {string} participantId */
  removeParticipant(participantId) {
    queueMicrotask(() => this.refreshTitle());
    this.stage.remove(`cam:${participantId}`);
    for (const [key, tile] of [...this.stage.tiles]) {
      if (tile.kind === 'screen' && tile.participantId === participantId) this.stage.remove(key);
    }
    this.micState.delete(participantId);
    this.cameraOf.delete(participantId);
  }

  /**
   * @param {ProducerInfo} producer
   * @param {EventParticipant} participant
   */
  onProducer(producer, participant) {
    const pid = producer.participant_id;
    const tile = this.upsertParticipant(participant);
    if (producer.source === 'microphone') {
      this.micState.set(pid, { producerId: producer.producer_id, muted: !!producer.muted });
      tile.setAudioMuted(!!producer.muted);
    } else if (producer.source === 'camera') {
      this.cameraOf.set(pid, producer.producer_id);
      tile.setVideoMuted(!!producer.muted);
    }
  }

  /** @param {ProducerInfo} producer */
  onProducerGone(producer) {
    const pid = producer.participant_id;
    const tile = this.stage.get(`cam:${pid}`);
    if (producer.source === 'microphone') {
      this.micState.delete(pid);
      if (tile) tile.setAudioMuted(true);
    } else if (producer.source === 'camera' && tile && this.cameraOf.get(pid) === producer.producer_id) {
      tile.setVideo(null);
    } else if (producer.source === 'screen') {
      this.stage.remove(`screen:${producer.producer_id}`);
    }
  }

  /** @param {import('./consult-client.js').RemoteTrack} remote */
  onTrackAdded(remote) {
    const { kind, source, stream, producerId, participant } = remote;
    if (participant.self) return; // own camera processed by the server: effects-panel.js shows it
    if (kind === 'audio') {
      const audio = document.createElement('audio');
      audio.autoplay = true;
      audio.srcObject = stream;
      audio.dataset.producer = producerId;
      audio.dataset.participant = participant.participant_id;
      $('audio-sink').appendChild(audio);
      audio.play().catch(() => this.askForSound());
      this.audioEls.set(producerId, audio);
      return;
    }
    if (source === 'screen') {
      const tile = this.stage.upsert(`screen:${producerId}`, { kind: 'screen', name: participant.name || participant.identity, participantId: participant.participant_id });
      tile.setVideo(stream);
      tile.el.dataset.producer = producerId;
      return;
    }
    const tile = this.upsertParticipant(participant);
    this.cameraOf.set(participant.participant_id, producerId);
    tile.setVideo(stream);
    tile.setVideoMuted(remote.muted);
    tile.el.dataset.producer = producerId;
  }

  /** @param {import('./consult-client.js').TrackRemovedEvent} removed */
  onTrackRemoved({ kind, source, producerId, participant }) {
    if (participant.self) return;
    if (kind === 'audio') {
      const audio = this.audioEls.get(producerId);
      if (audio) {
        audio.srcObject = null;
        audio.remove();
      }
      this.audioEls.delete(producerId);
      return;
    }
    if (source === 'screen') {
      this.stage.remove(`screen:${producerId}`);
      return;
    }
    const tile = this.stage.get(`cam:${participant.participant_id}`);
    if (tile && tile.el.dataset.producer === producerId) tile.setVideo(null);
  }

  /** @param {import('./consult-client.js').TrackMutedEvent} ev */
  onTrackMuted({ participant, source, muted, local }) {
    if (local || !participant) return; // our own buttons already show it
    const tile = this.stage.get(`cam:${participant.participant_id}`);
    if (!tile) return;
    if (source === 'microphone') {
      const state = this.micState.get(participant.participant_id);
      if (state) state.muted = muted;
      tile.setAudioMuted(muted);
    } else if (source === 'camera') {
      tile.setVideoMuted(muted);
    }
  }

  /** @param {import('./consult-client.js').CameraProblemEvent} ev */
  onRemoteCameraProblem({ participant, resolved, self }) {
    if (self) {
      if (!resolved) this.toast('The others cannot see your video at the moment.');
      return;
    }
    const tile = this.stage.get(`cam:${participant.participant_id}`);
    if (!tile) return;
    tile.setNotice(resolved ? null : `${participant.name || 'This participant'}'s camera stopped. They are fixing it…`);
    tile.el.classList.toggle('camera-problem', !resolved);
  }

  /** Autoplay was refused: a button that starts the sound with the user's click. */
  askForSound() {
    if (document.querySelector('.sound-prompt')) return;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'primary sound-prompt';
    button.textContent = 'Click to turn the sound on';
    button.addEventListener('click', () => {
      for (const audio of this.audioEls.values()) audio.play().catch(() => {});
      button.remove();
    });
    $('call-view').appendChild(button);
  }

  /** The call ended: silence everyone. */
  removeAudio() {
    for (const audio of this.audioEls.values()) audio.remove();
    this.audioEls.clear();
  }
}
