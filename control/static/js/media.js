/**
 * media.js — local devices: capture with the user's preferred devices, device lists, a
 * microphone level meter, and camera health (ended, black or frozen video).
 *
 * Camera health is split as elsewhere in the project: {@link FrameHealth} is pure (fed with
 * samples and the time), {@link CameraWatchdog} is the thin shell that samples a <video> on a
 * canvas and reads the sender's framesEncoded on a timer.
 * @module media
 */

import { captureTrack, ConsultError } from './consult-client.js';

export const CAMERA_CONSTRAINTS = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
export const MICROPHONE_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/**
 * Open a device, preferring `deviceId`; falls back to any device of that kind when that one is
 * gone (unplugged since it was chosen).
 * @param {'camera'|'microphone'} what
 * @param {MediaTrackConstraints} constraints
 * @param {string|null} deviceId
 * @returns {Promise<MediaStreamTrack>}
 */
async function openPreferred(what, constraints, deviceId) {
  const kind = what === 'camera' ? 'video' : 'audio';
  if (deviceId) {
    try {
      return await captureTrack(what, { [kind]: { ...constraints, deviceId: { exact: deviceId } } });
    } catch (err) {
      if (!(err instanceof ConsultError) || err.code !== 'no_device') throw err;
    }
  }
  return captureTrack(what, { [kind]: constraints });
}

/**
 * Open the camera, preferring `deviceId`; falls back to any camera when that one is gone.
 * @param {string|null} deviceId
 * @returns {Promise<MediaStreamTrack>}
 */
export function openCamera(deviceId) {
  return openPreferred('camera', CAMERA_CONSTRAINTS, deviceId);
}

/**
 * Open the microphone, preferring `deviceId`; falls back to any microphone.
 * @param {string|null} deviceId
 * @returns {Promise<MediaStreamTrack>}
 */
export function openMicrophone(deviceId) {
  return openPreferred('microphone', MICROPHONE_CONSTRAINTS, deviceId);
}

/** @returns {Promise<{cameras: MediaDeviceInfo[], microphones: MediaDeviceInfo[]}>} */
export async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return { cameras: [], microphones: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((d) => d.kind === 'videoinput'),
    microphones: devices.filter((d) => d.kind === 'audioinput'),
  };
}

/**
 * Microphone level meter (WebAudio AnalyserNode). `level()` returns 0..1 (RMS, scaled so
 * normal speech fills most of the bar).
 */
export class LevelMeter {
  /** @param {MediaStreamTrack} track */
  constructor(track) {
    const Ctx = window.AudioContext || /** @type {any} */ (window).webkitAudioContext; // Safari < 14.1
    this.ctx = new Ctx();
    this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.buffer = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
    // Safari keeps an AudioContext suspended until the user touches the page.
    this._resume = () => { if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {}); };
    this._resume();
    document.addEventListener('pointerdown', this._resume);
  }

  /** @returns {number} 0..1 */
  level() {
    if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
    this.analyser.getFloatTimeDomainData(this.buffer);
    let sum = 0;
    for (const v of this.buffer) sum += v * v;
    const rms = Math.sqrt(sum / this.buffer.length);
    return Math.min(1, rms * 4);
  }

  close() {
    document.removeEventListener('pointerdown', this._resume);
    this.source.disconnect();
    this.ctx.close().catch(() => {});
  }
}

/**
 * Draw the bar of a meter element (`.meter > .meter-fill`) from a {@link LevelMeter}.
 * @param {LevelMeter} meter
 * @param {HTMLElement} fill
 * @returns {() => void} stop function
 */
export function animateMeter(meter, fill) {
  let running = true;
  let smoothed = 0;
  const tick = () => {
    if (!running) return;
    smoothed = Math.max(meter.level(), smoothed * 0.85);
    fill.style.width = `${Math.round(smoothed * 100)}%`;
    fill.dataset.level = smoothed.toFixed(3);
    requestAnimationFrame(tick);
  };
  // rAF stops in background tabs; a timer keeps the value (read by tests) fresh.
  const timer = setInterval(() => { smoothed = Math.max(meter.level(), smoothed * 0.85); fill.dataset.level = smoothed.toFixed(3); }, 250);
  requestAnimationFrame(tick);
  return () => {
    running = false;
    clearInterval(timer);
  };
}

/** Problems a camera can have. */
export const CameraProblem = Object.freeze({ ENDED: 'ended', BLACK: 'black', FROZEN: 'frozen' });

/**
 * Pure judge of camera health from periodic samples. A problem is reported when the track
 * ended (at once), or when the picture stayed black, or stayed still while the encoder made no
 * new frame, for `problemAfterMs`. Health returns after `okAfterMs` of good samples.
 */
export class FrameHealth {
  /** @param {{problemAfterMs?: number, okAfterMs?: number}} [options] */
  constructor({ problemAfterMs = 3000, okAfterMs = 1000 } = {}) {
    this.problemAfterMs = problemAfterMs;
    this.okAfterMs = okAfterMs;
    /** @type {number|null} since when the picture is bad */
    this.badSince = null;
    /** @type {string|null} how it is bad */
    this.badKind = null;
    /** @type {number|null} since when it is good */
    this.goodSince = null;
    /** @type {number|null|undefined} the previous sample's framesEncoded */
    this.lastFrames = null;
    /** @type {Uint8Array|null} the previous sample's luma */
    this.lastLuma = null;
  }

  reset() {
    this.badSince = null;
    this.badKind = null;
    this.goodSince = null;
    this.lastFrames = null;
    this.lastLuma = null;
  }

  /**
   * @param {object} s one sample
   * @param {number} s.now            milliseconds
   * @param {boolean} s.ended          the track ended
   * @param {boolean} s.enabled        false while the user muted the camera (never a problem)
   * @param {Uint8Array|null} s.luma   downscaled luma of the current picture (null: none yet)
   * @param {number|null|undefined} s.framesEncoded outbound framesEncoded, null when not published
   * @returns {{state: 'ok'|'problem'|'unknown', problem: string|null}}
   */
  update({ now, ended, enabled, luma, framesEncoded }) {
    if (ended) {
      this.goodSince = null;
      return { state: 'problem', problem: CameraProblem.ENDED };
    }
    if (!enabled || !luma) {
      this.badSince = null;
      this.lastLuma = luma;
      this.lastFrames = framesEncoded;
      return { state: 'unknown', problem: null };
    }
    let max = 0;
    let sum = 0;
    let diff = 0;
    for (let i = 0; i < luma.length; i++) {
      const v = luma[i];
      sum += v;
      if (v > max) max = v;
      if (this.lastLuma && this.lastLuma.length === luma.length) diff += Math.abs(v - this.lastLuma[i]);
    }
    const mean = sum / luma.length;
    const black = mean < 12 && max < 40;
    const still = this.lastLuma !== null && this.lastLuma.length === luma.length && diff / luma.length < 0.05;
    const encoderStopped = framesEncoded === null || framesEncoded === undefined
      ? true
      : this.lastFrames !== null && framesEncoded <= /** @type {number} */ (this.lastFrames);
    this.lastLuma = luma;
    this.lastFrames = framesEncoded;
    /** @type {string|null} */
    const badKind = black ? CameraProblem.BLACK : still && encoderStopped ? CameraProblem.FROZEN : null;
    if (badKind) {
      this.goodSince = null;
      if (this.badSince === null || this.badKind !== badKind) {
        this.badSince = now;
        this.badKind = badKind;
      }
      if (now - this.badSince >= this.problemAfterMs) return { state: 'problem', problem: badKind };
      return { state: 'unknown', problem: null };
    }
    this.badSince = null;
    this.badKind = null;
    if (this.goodSince === null) this.goodSince = now;
    if (now - this.goodSince >= this.okAfterMs) return { state: 'ok', problem: null };
    return { state: 'unknown', problem: null };
  }
}

const SAMPLE_W = 32;
const SAMPLE_H = 24;

/**
 * Luma of a <video>'s current picture, downscaled to 32x24, or null if it has none yet.
 * @param {HTMLVideoElement} video
 * @param {HTMLCanvasElement} canvas
 * @returns {Uint8Array|null}
 */
export function sampleLuma(video, canvas) {
  if (!video || video.readyState < 2 || !video.videoWidth) return null;
  canvas.width = SAMPLE_W;
  canvas.height = SAMPLE_H;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true }));
  ctx.drawImage(video, 0, 0, SAMPLE_W, SAMPLE_H);
  const { data } = ctx.getImageData(0, 0, SAMPLE_W, SAMPLE_H);
  const luma = new Uint8Array(SAMPLE_W * SAMPLE_H);
  for (let i = 0, j = 0; i < data.length; i += 4, j++) {
    luma[j] = (data[i] * 3 + data[i + 1] * 6 + data[i + 2]) / 10;
  }
  return luma;
}

/**
 * Watches a camera track: samples it through its own small <video> element (kept on screen but
 * invisible, so browsers never pause it as off-screen) and reads framesEncoded when published.
 */
export class CameraWatchdog {
  /**
   * @param {object} options
   * @param {() => MediaStreamTrack|null} options.getTrack current camera track
   * @param {() => Promise<number|null>} [options.getFramesEncoded] outbound framesEncoded or null
   * @param {(problem: string) => void} [options.onProblem]
   * @param {() => void} [options.onHealthy] called once per start() when video is good
   * @param {number} [options.intervalMs=500]
   * @param {number} [options.problemAfterMs=3000]
   * @param {number} [options.okAfterMs=1000]
   */
  constructor({ getTrack, getFramesEncoded = async () => null, onProblem = () => {}, onHealthy = () => {}, intervalMs = 500, problemAfterMs = 3000, okAfterMs = 1000 }) {
    this.getTrack = getTrack;
    this.getFramesEncoded = getFramesEncoded;
    this.onProblem = onProblem;
    this.onHealthy = onHealthy;
    this.intervalMs = intervalMs;
    this.health = new FrameHealth({ problemAfterMs, okAfterMs });
    this.video = document.createElement('video');
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.autoplay = true;
    this.video.className = 'watchdog-video';
    this.video.setAttribute('aria-hidden', 'true');
    this.canvas = document.createElement('canvas');
    /** @type {ReturnType<typeof setInterval>|null} */
    this.timer = null;
    this.reported = false;
    this.healthyReported = false;
    this.busy = false;
  }

  start() {
    this.stop();
    document.body.appendChild(this.video);
    this.health.reset();
    this.reported = false;
    this.healthyReported = false;
    this.timer = setInterval(() => this._tick(), this.intervalMs);
  }

  stop() {
    clearInterval(this.timer ?? undefined);
    this.timer = null;
    this.video.srcObject = null;
    this.video.remove();
  }

  async _tick() {
    if (this.busy || document.hidden) return; // hidden tabs do not paint video: no judgement
    this.busy = true;
    try {
      const track = this.getTrack();
      if (!track) return;
      const showing = /** @type {MediaStream|null} */ (this.video.srcObject);
      if (!showing || showing.getVideoTracks()[0] !== track) {
        this.video.srcObject = new MediaStream([track]);
        this.video.play().catch(() => {});
        this.health.reset();
      }
      const framesEncoded = await this.getFramesEncoded();
      const verdict = this.health.update({
        now: performance.now(),
        ended: track.readyState === 'ended',
        enabled: track.enabled,
        luma: sampleLuma(this.video, this.canvas),
        framesEncoded,
      });
      if (verdict.state === 'problem' && !this.reported) {
        this.reported = true;
        this.onProblem(/** @type {string} */ (verdict.problem));
      } else if (verdict.state === 'ok') {
        this.reported = false;
        if (!this.healthyReported) {
          this.healthyReported = true;
          this.onHealthy();
        }
      }
    } finally {
      this.busy = false;
    }
  }
}

/**
 * framesEncoded of the outbound video in a sender's stats report, or null.
 * @param {RTCStatsReport|null} report
 * @returns {number|null}
 */
export function framesEncodedOf(report) {
  if (!report) return null;
  /** @type {number|null} */
  let frames = null;
  report.forEach((s) => {
    if (s.type === 'outbound-rtp' && (s.kind === 'video' || s.mediaType === 'video') && typeof s.framesEncoded === 'number') {
      frames = (frames || 0) + s.framesEncoded;
    }
  });
  return frames;
}
