/**
 * consult-error.js — the one error type of the client library (re-exported by consult-client.js).
 * @module consult-error
 */

/**
 * An error with a stable `code` (server error codes such as `token_expired`, plus the client's own:
 * `server_unreachable`, `permission_denied`, `no_device`, `device_busy`, `unsupported`,
 * `timeout`, `reconnect_failed`, `closed`).
 */
export class ConsultError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message human-readable explanation
   * @param {ConsultErrorDetails} [details] extra fields (e.g. the server message that caused it)
   */
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'ConsultError';
    /** Stable machine-readable code. */
    this.code = code;
    /** Extra fields, by code. */
    this.details = details;
  }
}

/**
 * Extra fields of a {@link ConsultError}, by code.
 * @typedef {object} ConsultErrorDetails
 * @property {import('./client-types.js').ServerMessage} [message]  the server message that caused it
 * @property {number|null} [opensAt]  `too_early`: when the room opens (epoch seconds), if the server said
 * @property {string|null} [userMessage]  `denied` / `bye`: the practitioner's words for the user
 * @property {string} [what]  capture errors: `camera`, `microphone` or `screen`
 * @property {unknown} [cause]  the underlying error (a DOMException, the last re-join failure)
 */
