/**
 * client-capture.js — opening the camera, microphone and screen for the client library, with
 * the browser's failures mapped to a {@link ConsultError} with a stable code.
 * `mediaError` and `captureTrack` are re-exported by consult-client.js.
 * @module client-capture
 */

import { ConsultError } from './consult-error.js';

/**
 * Turn a getUserMedia / getDisplayMedia failure into a {@link ConsultError} with a stable code.
 * @param {any} err the DOMException
 * @param {string} what "camera", "microphone" or "screen"
 * @returns {ConsultError}
 */
export function mediaError(err, what) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return new ConsultError('permission_denied', `permission to use the ${what} was denied`, { what, cause: err });
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
    return new ConsultError('no_device', `no ${what} was found`, { what, cause: err });
  }
  if (name === 'NotReadableError' || name === 'AbortError' || name === 'TrackStartError') {
    return new ConsultError('device_busy', `the ${what} could not be started (in use by another program?)`, { what, cause: err });
  }
  if (name === 'TypeError' || name === 'NotSupportedError') {
    return new ConsultError('unsupported', `this browser cannot capture the ${what} here (a secure https page is needed)`, { what, cause: err });
  }
  return new ConsultError('media_error', `the ${what} failed: ${err && err.message ? err.message : err}`, { what, cause: err });
}

/**
 * getUserMedia for one track, with failures mapped to {@link ConsultError}.
 * @param {string} what "camera" or "microphone"
 * @param {MediaStreamConstraints} constraints
 * @returns {Promise<MediaStreamTrack>}
 */
export async function captureTrack(what, constraints) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new ConsultError('unsupported', `this browser cannot use the ${what} here (a secure https page is needed)`);
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    throw mediaError(err, what);
  }
  const [track] = constraints.video ? stream.getVideoTracks() : stream.getAudioTracks();
  return track;
}

/**
 * Ask the user for a screen (or window), with its audio when the browser offers it.
 * @returns {Promise<{video: MediaStreamTrack, audio: MediaStreamTrack|undefined}>}
 */
export async function captureScreen() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    throw new ConsultError('unsupported', 'this browser cannot share the screen');
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: true });
  } catch (err) {
    throw mediaError(err, 'screen');
  }
  const [video] = stream.getVideoTracks();
  const [audio] = stream.getAudioTracks();
  video.contentHint = 'detail';
  return { video, audio };
}
