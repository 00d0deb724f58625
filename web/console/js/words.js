// What each error code means, in words (contract §2, §3, §10, plus the client's
// own codes), and how a refusal is told to the moderator.

import { duration } from './dom.js';

const MEANINGS = {
  // WebSocket refusals (§2, §10)
  bad_request: 'the server did not understand the request',
  unauthorized: 'the token or API key was refused',
  forbidden: 'you are not allowed to do this here',
  not_joined: 'the console is not in this room',
  banned: 'you are banned from this room',
  timed_out: 'you are timed out in this room',
  rate_limited: 'too many requests in a short time',
  slow_mode: 'slow mode is on',
  too_long: 'the text is too long',
  too_many_rooms: 'this connection is in too many rooms',
  internal: 'the server failed',
  too_many_connections: 'too many connections',
  room_limit: 'the server holds too many rooms',
  token_expired: 'the token expired',
  followers_only: 'the room is in followers-only mode',
  subscribers_only: 'the room is in subscribers-only mode',
  emote_only: 'the room is in emote-only mode',
  duplicate: 'unique chat is on and this text was sent recently',
  blocked_term: 'the text contains a blocked term',
  warned: 'a warning must be acknowledged first',
  // REST (§3)
  not_found: 'not found',
  too_large: 'the request is too large',
  unavailable: 'the server is not ready',
  // the client's own (roomcast-client)
  timeout: 'the server did not answer in time',
  disconnected: 'the connection is down',
  buffer_full: 'too many messages waiting for the connection',
  invalid: 'the request is invalid',
};

/** Codes whose refusals carry a retry time. */
const RETRY_CODES = new Set(['rate_limited', 'slow_mode', 'timed_out']);

/** The meaning of an error code, in words. */
export function meaning(code) {
  return MEANINGS[code] ?? `the server refused (${code})`;
}

/**
 * A refusal told in words: "Refused: slow mode is on — try again in 4 s (slow_mode)".
 * Accepts a RoomcastError (`code`, `retryAfterMs`, `message`) or an ApiError.
 * @param {any} err
 */
export function refusal(err) {
  if (isUnsupported(err)) return 'Not available on this server';
  const code = err?.code ?? 'internal';
  let s = `Refused: ${meaning(code)}`;
  if (RETRY_CODES.has(code) && typeof err.retryAfterMs === 'number') {
    s += ` — try again in ${duration(Math.ceil(err.retryAfterMs / 1000))}`;
  }
  return `${s} (${code})`;
}

/**
 * Whether a refusal means the server does not know this frame or route at all
 * (a server without §7/§8): a WebSocket `bad_request` naming an unknown frame
 * type, or an HTTP 404 from the router.
 * @param {any} err
 */
export function isUnsupported(err) {
  if (!err) return false;
  if (err.status === 404) return true;
  return err.code === 'bad_request' && /unknown (variant|type|frame)/i.test(err.message ?? '');
}
