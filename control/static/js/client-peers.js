/**
 * client-peers.js — the client library's two RTCPeerConnections, "publish" and "subscribe".
 *
 * Creates them with exactly the ICE servers of `joined.ice_servers` (never a public STUN
 * default), trickles local candidates as `candidate` messages (held back until that
 * connection's offer or answer went out), adds the server's candidates, and watches the ICE
 * state: `failed`, or `disconnected` for 5 s, counts as a lost connection for the owner.
 * @module client-peers
 */

/** @typedef {import('./client-types.js').PcName} PcName */

/** @type {PcName[]} */
const NAMES = ['publish', 'subscribe'];

/** Both peer connections of one participant, and their ICE plumbing. */
export class PeerConnections {
  /**
   * @param {object} hooks
   * @param {() => RTCIceServer[]} hooks.iceServers  the servers of the current join
   * @param {(body: import('./client-types.js').ClientMessage) => boolean} hooks.send  send a signalling message
   * @param {(name: PcName, state: RTCIceConnectionState) => void} hooks.onMediaState  ICE connection state changed
   * @param {(reason: string) => void} hooks.onLost  ICE failed or stayed disconnected
   */
  constructor({ iceServers, send, onMediaState, onLost }) {
    this._iceServers = iceServers;
    this._send = send;
    this._onMediaState = onMediaState;
    this._onLost = onLost;
    /** @type {{publish: RTCPeerConnection|null, subscribe: RTCPeerConnection|null}} the two peer connections (null until needed) */
    this.pcs = { publish: null, subscribe: null };
    /** @type {Record<PcName, import('./client-types.js').ClientMessage[]>} candidates held back until the offer / answer went out */
    this._candidateBuffer = { publish: [], subscribe: [] };
    this._signalled = { publish: false, subscribe: false };
    /** @type {Partial<Record<PcName, ReturnType<typeof setTimeout>>>} */
    this._iceTimers = {};
  }

  /**
   * Create the peer connection `name` ("publish" or "subscribe").
   * @param {PcName} name
   * @returns {RTCPeerConnection}
   */
  create(name) {
    const pc = new RTCPeerConnection({ iceServers: this._iceServers() });
    pc.onicecandidate = (ev) => {
      const c = ev.candidate;
      const body = {
        type: 'candidate',
        pc: name,
        candidate: c && c.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null,
      };
      if (this._signalled[name]) this._send(body);
      else this._candidateBuffer[name].push(body);
    };
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState;
      this._onMediaState(name, state);
      clearTimeout(this._iceTimers[name]);
      if (state === 'failed') {
        this._onLost(`${name} media connection failed`);
      } else if (state === 'disconnected') {
        // Short glitches heal by themselves; a longer one needs a fresh join.
        this._iceTimers[name] = setTimeout(() => {
          if (this.pcs[name] === pc && pc.iceConnectionState === 'disconnected') {
            this._onLost(`${name} media connection lost`);
          }
        }, 5000);
      }
    };
    this.pcs[name] = pc;
    return pc;
  }

  /**
   * The offer or answer of `name` went out: send the candidates held back, trickle the next ones.
   * @param {PcName} name
   */
  flushCandidates(name) {
    this._signalled[name] = true;
    for (const body of this._candidateBuffer[name]) this._send(body);
    this._candidateBuffer[name] = [];
  }

  /**
   * A `candidate` message from the server.
   * @param {import('./client-types.js').ServerMessage} msg
   */
  async addRemoteCandidate(msg) {
    const pc = this.pcs[/** @type {PcName} */ (msg.pc)];
    if (!pc) return;
    try {
      await pc.addIceCandidate(msg.candidate || null);
    } catch (_) {
      // a candidate for an m-line that is gone: harmless
    }
  }

  clearIceTimers() {
    for (const t of Object.values(this._iceTimers)) clearTimeout(t);
    this._iceTimers = {};
  }

  /** Close both connections and forget their candidates. */
  closeAll() {
    for (const name of NAMES) {
      const pc = this.pcs[name];
      if (pc) {
        pc.onicecandidate = pc.oniceconnectionstatechange = null;
        pc.close();
      }
      this.pcs[name] = null;
      this._candidateBuffer[name] = [];
      this._signalled[name] = false;
    }
  }

  /** @returns {Promise<{publish: RTCStatsReport|null, subscribe: RTCStatsReport|null}>} */
  async getStats() {
    const [publish, subscribe] = await Promise.all([
      this.pcs.publish ? this.pcs.publish.getStats() : null,
      this.pcs.subscribe ? this.pcs.subscribe.getStats() : null,
    ]);
    return { publish, subscribe };
  }
}
