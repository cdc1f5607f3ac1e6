/**
 * pip-fullscreen.js — the room page's picture-in-picture and full-screen buttons: each is
 * hidden where the browser cannot do it, toggles, and says why in a toast when it fails.
 * Picture in picture shows the most prominent remote video; full screen takes the whole page
 * (on an iPhone, where only a video can go full screen, that same remote video).
 * @module pip-fullscreen
 */

/**
 * Vendor-prefixed APIs (Safari) next to the standard ones.
 * @typedef {HTMLVideoElement & {webkitSetPresentationMode?: (mode: string) => void, webkitEnterFullscreen?: () => void}} WebkitVideo
 * @typedef {Document & {webkitFullscreenElement?: Element|null, webkitExitFullscreen?: () => void}} WebkitDocument
 * @typedef {HTMLElement & {webkitRequestFullscreen?: () => void}} WebkitElement
 */

/** The two buttons and what they do. */
export class PipAndFullscreen {
  /**
   * @param {object} deps
   * @param {HTMLElement} deps.pipButton
   * @param {HTMLElement} deps.fullscreenButton
   * @param {HTMLElement} deps.app  what goes full screen
   * @param {() => HTMLVideoElement|null} deps.mainRemoteVideo
   * @param {(text: string) => void} deps.toast
   */
  constructor({ pipButton, fullscreenButton, app, mainRemoteVideo, toast }) {
    this.app = /** @type {WebkitElement} */ (app);
    this.mainRemoteVideo = /** @type {() => WebkitVideo|null} */ (mainRemoteVideo);
    this.toast = toast;
    const probe = /** @type {WebkitVideo} */ (document.createElement('video'));
    pipButton.hidden = !(document.pictureInPictureEnabled || typeof probe.webkitSetPresentationMode === 'function');
    pipButton.addEventListener('click', () => this.togglePip());
    fullscreenButton.addEventListener('click', () => this.toggleFullscreen());
    document.addEventListener('fullscreenchange', () => fullscreenButton.setAttribute('aria-pressed', String(!!document.fullscreenElement)));
  }

  async togglePip() {
    try {
      if (document.pictureInPictureElement) {
        await document.exitPictureInPicture();
        return;
      }
      const video = this.mainRemoteVideo();
      if (!video) {
        this.toast('Picture in picture needs the other person\'s video.');
        return;
      }
      if (video.requestPictureInPicture) await video.requestPictureInPicture();
      else if (video.webkitSetPresentationMode) video.webkitSetPresentationMode('picture-in-picture');
    } catch (err) {
      this.toast(`Picture in picture is not available: ${/** @type {Error} */ (err).message}`);
    }
  }

  async toggleFullscreen() {
    const doc = /** @type {WebkitDocument} */ (document);
    const app = this.app;
    try {
      if (doc.fullscreenElement || doc.webkitFullscreenElement) {
        if (doc.exitFullscreen) await doc.exitFullscreen();
        else if (doc.webkitExitFullscreen) doc.webkitExitFullscreen();
      } else if (app.requestFullscreen) {
        await app.requestFullscreen();
      } else if (app.webkitRequestFullscreen) {
        app.webkitRequestFullscreen();
      } else {
        const video = this.mainRemoteVideo(); // iPhone: only a video can go full screen
        if (video && video.webkitEnterFullscreen) video.webkitEnterFullscreen();
      }
    } catch (err) {
      this.toast(`Full screen is not available: ${/** @type {Error} */ (err).message}`);
    }
  }
}
