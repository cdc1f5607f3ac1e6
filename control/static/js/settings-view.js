// @ts-nocheck -- not type-checked yet (tsconfig.json); remove this line once its JSDoc types pass tsc.
/**
 * settings-view.js — "Settings / test your network and hardware": choose camera and microphone,
 * preview, microphone level, video fit, and (on the stand-alone page) the echo test.
 *
 * Used twice: by settings.html (mode "page": the view owns its tracks) and inside the room page
 * (mode "room": the call stays connected; a new device's track is handed to the room, which
 * publishes it with replaceTrack). In the room it is also where a camera problem is fixed:
 * `open({problem})` keeps trying to restart the camera and calls `onRecovered(track)` once
 * the new track delivers good video for a second.
 * @module settings-view
 */

import { ConsultError } from './consult-client.js';
import { CameraWatchdog, LevelMeter, animateMeter, listDevices, openCamera, openMicrophone } from './media.js';
import { loadPrefs, savePrefs } from './prefs.js';
import { errorText } from './texts.js';
import { runEchoTest } from './echo-test.js';

const PROBLEM_TEXTS = {
  ended: 'Your camera stopped.',
  black: 'Your camera only sends a black picture.',
  frozen: 'Your camera picture is frozen.',
};

const RETRY_MS = 3000;

const TEMPLATE = `
  <div class="settings-inner">
    <header class="settings-header">
      <h1>Test your network and hardware</h1>
      <p class="settings-sub">Check your camera and microphone, and whether your connection is good enough for a video consultation.</p>
    </header>
    <div class="problem-banner" id="camera-problem-banner" role="alert" hidden>
      <strong class="problem-title"></strong>
      <span>We are trying to restart it. If it does not come back, choose another camera below, check that it is plugged in and that no other program uses it. You will return to the consultation as soon as video works again.</span>
    </div>
    <section class="settings-devices">
      <div class="settings-preview-box">
        <video id="settings-preview" autoplay playsinline muted></video>
        <div class="settings-camera-status" id="camera-status"></div>
      </div>
      <div class="settings-controls">
        <label>Camera
          <select id="camera-select"></select>
        </label>
        <label>Microphone
          <select id="mic-select"></select>
        </label>
        <div class="meter" id="mic-meter" aria-label="Microphone level"><div class="meter-fill"></div></div>
        <p class="hint">Speak: the bar should move.</p>
        <fieldset class="fit-choice">
          <legend>Video fit</legend>
          <label><input type="radio" name="video-fit" value="cover"> Fill the tile (may crop)</label>
          <label><input type="radio" name="video-fit" value="contain"> Show the whole picture</label>
        </fieldset>
      </div>
    </section>
    <section class="echo-test" id="echo-section">
      <h2>Network test</h2>
      <p class="hint">Your video and sound travel to the server and back, so we can measure your connection (about 10 seconds).</p>
      <button type="button" class="primary" id="echo-start">Start the network test</button>
      <div class="echo-progress" id="echo-progress" hidden><div class="echo-progress-fill"></div></div>
      <div class="echo-result" id="echo-result" hidden>
        <video id="echo-video" autoplay playsinline muted hidden></video>
        <dl class="echo-figures">
          <dt>Round trip</dt><dd id="echo-rtt">–</dd>
          <dt>Packet loss</dt><dd id="echo-loss">–</dd>
          <dt>Bitrate received</dt><dd id="echo-bitrate">–</dd>
          <dt>Frames decoded</dt><dd id="echo-frames">–</dd>
        </dl>
        <div class="echo-verdict" id="echo-verdict" role="status"></div>
      </div>
    </section>
    <footer class="settings-footer">
      <button type="button" class="primary" id="settings-close" hidden>Back to the consultation</button>
      <a class="button" id="settings-return" hidden>Back</a>
    </footer>
  </div>`;

export class SettingsView {
  /**
   * @param {HTMLElement} root container (its content is replaced)
   * @param {object} options
   * @param {'page'|'room'} options.mode
   * @param {() => {camera: MediaStreamTrack|null, microphone: MediaStreamTrack|null}} [options.getTracks] room mode
   * @param {(source: string, track: MediaStreamTrack) => Promise<void>} [options.setTrack] room mode: take over a new track
   * @param {(track: MediaStreamTrack) => void} [options.onRecovered] room mode: camera problem fixed
   * @param {() => void} [options.onClose] room mode: back to the consultation
   * @param {(fit: string) => void} [options.onFitChange]
   * @param {string|null} [options.returnUrl] page mode: where "Back" goes
   */
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.mode = options.mode;
    this.tracks = { camera: null, microphone: null };
    this.problem = null;
    this.candidate = null; // camera track under test while fixing a problem
    this.retryTimer = null;
    this.stopMeter = null;
    this.meter = null;
    this.opened = false;
    root.innerHTML = TEMPLATE;
    this.$ = (id) => root.querySelector(`#${id}`);
    this.$('echo-section').hidden = this.mode !== 'page';
    this.$('settings-close').hidden = this.mode !== 'room';
    if (options.returnUrl) {
      const back = this.$('settings-return');
      back.href = options.returnUrl;
      back.hidden = false;
      back.textContent = 'Back to the consultation';
    }
    this.$('camera-select').addEventListener('change', (ev) => this._chooseCamera(ev.target.value));
    this.$('mic-select').addEventListener('change', (ev) => this._chooseMicrophone(ev.target.value));
    this.$('settings-close').addEventListener('click', () => this.options.onClose && this.options.onClose());
    this.$('echo-start').addEventListener('click', () => this._runEcho());
    for (const radio of root.querySelectorAll('input[name="video-fit"]')) {
      radio.checked = radio.value === loadPrefs().videoFit;
      radio.addEventListener('change', () => {
        if (!radio.checked) return;
        savePrefs({ videoFit: radio.value });
        if (this.options.onFitChange) this.options.onFitChange(radio.value);
      });
    }
    this.watchdog = new CameraWatchdog({
      getTrack: () => this.candidate,
      onHealthy: () => this._candidateHealthy(),
      okAfterMs: 1000,
    });
  }

  /**
   * Show the view. In room mode with `problem`, start fixing the camera. `echo` shows the
   * network test (default: on the stand-alone page only; the room offers it before joining).
   * @param {{problem?: string|null, echo?: boolean}} [options]
   */
  async open({ problem = null, echo = this.mode === 'page' } = {}) {
    this.opened = true;
    this.$('echo-section').hidden = !echo;
    this.problem = problem;
    const banner = this.$('camera-problem-banner');
    banner.hidden = !problem;
    this.root.dataset.problem = problem || '';
    if (problem) banner.querySelector('.problem-title').textContent = PROBLEM_TEXTS[problem] || 'Your camera stopped sending video.';
    if (this.mode === 'room') {
      const current = this.options.getTracks();
      this.tracks = { ...current };
    } else {
      await this._openInitialDevices();
    }
    if (problem) this._startRecovery();
    else this._showPreview(this.tracks.camera);
    this._attachMeter(this.tracks.microphone);
    await this._fillDeviceLists();
  }

  /** Hide the view: stops the meter and any recovery; in page mode also the tracks. */
  close() {
    this.opened = false;
    this._stopRecovery();
    this._detachMeter();
    this.$('settings-preview').srcObject = null;
    if (this.mode === 'page') {
      for (const t of Object.values(this.tracks)) if (t) t.stop();
      this.tracks = { camera: null, microphone: null };
    }
  }

  async _openInitialDevices() {
    const prefs = loadPrefs();
    const status = this.$('camera-status');
    try {
      this.tracks.camera = await openCamera(prefs.cameraId);
      status.textContent = '';
    } catch (err) {
      status.textContent = errorText(err.code, err.message).title;
    }
    try {
      this.tracks.microphone = await openMicrophone(prefs.microphoneId);
    } catch (err) {
      if (!status.textContent) status.textContent = errorText(err.code, err.message).title;
    }
  }

  async _fillDeviceLists() {
    let devices;
    try {
      devices = await listDevices();
    } catch (_) {
      return;
    }
    const fill = (select, list, current, fallbackLabel) => {
      select.innerHTML = '';
      list.forEach((d, i) => {
        const opt = document.createElement('option');
        opt.value = d.deviceId;
        opt.textContent = d.label || `${fallbackLabel} ${i + 1}`;
        select.appendChild(opt);
      });
      const currentId = current && current.getSettings ? current.getSettings().deviceId : null;
      if (currentId) select.value = currentId;
      select.disabled = list.length === 0;
    };
    fill(this.$('camera-select'), devices.cameras, this.tracks.camera || this.candidate, 'Camera');
    fill(this.$('mic-select'), devices.microphones, this.tracks.microphone, 'Microphone');
  }

  _showPreview(track) {
    const video = this.$('settings-preview');
    video.srcObject = track ? new MediaStream([track]) : null;
    if (track) video.play().catch(() => {});
    this.root.classList.toggle('no-camera', !track);
  }

  _attachMeter(track) {
    this._detachMeter();
    if (!track) return;
    try {
      this.meter = new LevelMeter(track);
      this.stopMeter = animateMeter(this.meter, this.$('mic-meter').querySelector('.meter-fill'));
    } catch (_) {
      this.meter = null; // no WebAudio: the page still works without a meter
    }
  }

  _detachMeter() {
    if (this.stopMeter) this.stopMeter();
    if (this.meter) this.meter.close();
    this.stopMeter = null;
    this.meter = null;
  }

  async _chooseCamera(deviceId) {
    savePrefs({ cameraId: deviceId });
    if (this.problem) {
      await this._tryCandidate(deviceId);
      return;
    }
    const status = this.$('camera-status');
    try {
      if (this.mode === 'page' && this.tracks.camera) this.tracks.camera.stop();
      const track = await openCamera(deviceId);
      if (this.mode === 'room') await this.options.setTrack('camera', track);
      this.tracks.camera = track;
      this._showPreview(track);
      status.textContent = '';
    } catch (err) {
      status.textContent = errorText(err.code, err.message).title;
    }
  }

  async _chooseMicrophone(deviceId) {
    savePrefs({ microphoneId: deviceId });
    try {
      if (this.mode === 'page' && this.tracks.microphone) this.tracks.microphone.stop();
      const track = await openMicrophone(deviceId);
      if (this.mode === 'room') await this.options.setTrack('microphone', track);
      this.tracks.microphone = track;
      this._attachMeter(track);
    } catch (err) {
      this.$('camera-status').textContent = errorText(err.code, err.message).title;
    }
  }

  // -------------------------------------------------------------- camera problem (room mode)

  _startRecovery() {
    this._stopRecovery();
    this.watchdog.start();
    const attempt = async () => {
      if (!this.problem || !this.opened) return;
      if (!this.candidate || this.candidate.readyState === 'ended') await this._tryCandidate(loadPrefs().cameraId);
      this.retryTimer = setTimeout(attempt, RETRY_MS);
    };
    attempt();
  }

  _stopRecovery() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.watchdog.stop();
    if (this.candidate) {
      this.candidate.stop();
      this.candidate = null;
    }
  }

  async _tryCandidate(deviceId) {
    const status = this.$('camera-status');
    // A frozen camera is often held by its broken track: release it before reopening.
    const dead = this.tracks.camera;
    if (dead && dead.readyState === 'live') dead.stop();
    if (this.candidate) this.candidate.stop();
    this.candidate = null;
    try {
      const track = await openCamera(deviceId);
      if (!this.problem) {
        track.stop();
        return;
      }
      this.candidate = track;
      this._showPreview(track);
      status.textContent = 'Camera found — checking the picture…';
      this.watchdog.start();
      await this._fillDeviceLists();
    } catch (err) {
      const code = err instanceof ConsultError ? err.code : 'media_error';
      status.textContent = `${errorText(code, err.message).title}. Trying again…`;
      this._showPreview(null);
    }
  }

  _candidateHealthy() {
    if (!this.problem || !this.candidate) return;
    const track = this.candidate;
    this.candidate = null; // handed over: not ours to stop any more
    this.problem = null;
    this.tracks.camera = track;
    this._stopRecovery();
    this.$('camera-problem-banner').hidden = true;
    this.$('camera-status').textContent = '';
    this.root.dataset.problem = '';
    if (this.options.onRecovered) this.options.onRecovered(track);
  }

  // -------------------------------------------------------------- echo test (page mode)

  async _runEcho() {
    const button = this.$('echo-start');
    const progress = this.$('echo-progress');
    const result = this.$('echo-result');
    const verdictEl = this.$('echo-verdict');
    button.disabled = true;
    progress.hidden = false;
    result.hidden = false;
    verdictEl.textContent = 'Testing…';
    verdictEl.dataset.verdict = 'running';
    const show = (f) => {
      this.$('echo-rtt').textContent = f.rttMs === null || f.rttMs === undefined ? '–' : `${f.rttMs < 10 ? f.rttMs.toFixed(1) : Math.round(f.rttMs)} ms`;
      this.$('echo-loss').textContent = `${f.lossPct.toFixed(1)} %`;
      this.$('echo-bitrate').textContent = `${Math.round(f.inboundKbps)} kbit/s`;
      this.$('echo-frames').textContent = String(f.framesDecoded);
    };
    try {
      const outcome = await runEchoTest({
        camera: this.tracks.camera,
        microphone: this.tracks.microphone,
        onProgress: ({ fraction, figures }) => {
          progress.querySelector('.echo-progress-fill').style.width = `${Math.round(fraction * 100)}%`;
          show(figures);
        },
        onEcho: (stream, kind) => {
          if (kind === 'video') {
            const video = this.$('echo-video');
            video.hidden = false;
            video.srcObject = stream;
            video.play().catch(() => {});
          }
        },
      });
      show(outcome);
      const label = { good: 'Good', usable: 'Usable', not_suitable: 'Not suitable' }[outcome.verdict];
      verdictEl.dataset.verdict = outcome.verdict;
      verdictEl.innerHTML = '';
      const strong = document.createElement('strong');
      strong.textContent = `${label}. `;
      verdictEl.append(strong, document.createTextNode(outcome.reasons.join(' ')));
      this.lastEcho = outcome;
    } catch (err) {
      verdictEl.dataset.verdict = 'not_suitable';
      const text = errorText(err.code, err.message);
      verdictEl.textContent = `Not suitable. ${text.title}: ${text.body}`;
      this.lastEcho = { error: err.code || String(err) };
    } finally {
      this.$('echo-video').srcObject = null;
      this.$('echo-video').hidden = true; // the echo is over: no black box
      button.disabled = false;
      progress.hidden = true;
    }
  }
}
