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
   * @param {object} [details] extra fields (e.g. the server message that caused it)
   */
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'ConsultError';
    this.code = code;
    this.details = details;
  }
}
