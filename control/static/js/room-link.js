/**
 * room-link.js — the room page's join link (`/room/<room>#token=...`): where to connect, and
 * the token's claims read *without* verifying them (the server does that), only to greet the
 * user by name and to say "this link has expired" before trying.
 * @module room-link
 */

import { ConsultError, parseJoinUrl } from './consult-client.js';

/**
 * Claims of the join token (its middle, base64url JSON), or null when it cannot be read.
 * @param {string} token
 * @returns {Record<string, any>|null}
 */
export function readTokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '='));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch (_) {
    return null;
  }
}

/**
 * The link of this page, checked: throws a {@link ConsultError} (`invalid_token` without a
 * token, `token_expired` when its `exp` has passed).
 * @param {string} href
 * @param {number} [nowMs=Date.now()]
 * @returns {{link: {wsUrl: string, token: string, room: string|null}, claims: Record<string, any>}}
 */
export function readJoinLink(href, nowMs = Date.now()) {
  const link = parseJoinUrl(href);
  const claims = readTokenClaims(link.token) || {};
  if (typeof claims.exp === 'number' && claims.exp * 1000 < nowMs) {
    throw new ConsultError('token_expired', 'the link has expired');
  }
  return { link, claims };
}
