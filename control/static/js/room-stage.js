/**
 * room-stage.js — the call's stage on the room page: the tiles and their layout (tiles.js),
 * the others' tiles and sound (remote-participants.js), this participant's own tile ("self")
 * and the video fit (cover / contain, a preference).
 * @module room-stage
 */

import { Stage } from './tiles.js';
import { RemoteParticipants } from './remote-participants.js';

/** @typedef {import('./consult-client.js').ConsultClient} ConsultClient */

/** Every tile of the call, the others' and this participant's. */
export class RoomStage {
  /**
   * @param {HTMLElement} root the stage element (`#stage`)
   * @param {object} deps
   * @param {() => ConsultClient|null} deps.getClient
   * @param {(text: string) => void} deps.toast
   */
  constructor(root, { getClient, toast }) {
    this.root = root;
    this.getClient = getClient;
    this.tiles = new Stage(root);
    this.remote = new RemoteParticipants({ stage: this.tiles, getClient, toast });
  }

  /** @param {string} fit "cover" fills the tile (may crop), "contain" shows the whole picture */
  setFit(fit) {
    this.root.classList.toggle('fit-cover', fit !== 'contain');
    this.root.classList.toggle('fit-contain', fit === 'contain');
  }

  /** Lay the tiles out again (the stage was hidden and is shown again). */
  layout() {
    this.tiles.layout();
  }

  /** Follow a client's participants and tracks. */
  attach(/** @type {ConsultClient} */ client) {
    this.remote.attach(client);
  }

  /**
   * The participants already in the room when joining.
   * @param {import('./consult-client.js').ParticipantInfo[]} participants
   */
  addParticipants(participants) {
    for (const p of participants) this.remote.upsertParticipant(p);
  }

  /**
   * Show (or rename) this participant's own tile.
   * @param {string} name
   */
  showSelf(name) {
    this.tiles.upsert('self', { kind: 'camera', self: true, name });
  }

  /**
   * What the own tile shows: the local camera (null: none) and the mute marks.
   * @param {{camera: MediaStreamTrack|null, videoMuted: boolean, audioMuted: boolean}} self
   */
  updateSelf({ camera, videoMuted, audioMuted }) {
    const tile = this.tiles.get('self');
    if (!tile) return;
    tile.setVideo(camera ? new MediaStream([camera]) : null);
    tile.setVideoMuted(videoMuted);
    tile.setAudioMuted(audioMuted);
  }

  /**
   * The camera tile element of a participant (this one's own tile for its own id), or null.
   * @param {string} participantId
   * @returns {HTMLElement|null}
   */
  tileElement(participantId) {
    const selfId = this.getClient()?.self?.participant_id;
    const tile = this.tiles.get(participantId === selfId ? 'self' : `cam:${participantId}`);
    return tile ? tile.el : null;
  }

  /** The video of the most prominent remote tile (picture in picture, iPhone full screen). */
  mainRemoteVideo() {
    return this.tiles.mainRemoteVideo();
  }

  /** The call ended: silence everyone. */
  stopSound() {
    this.remote.removeAudio();
  }
}
