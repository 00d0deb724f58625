/** Small helpers with no state of their own. */

/** Room ids (contract conventions): 1–64 chars of `[A-Za-z0-9_.:-]`. */
export const ROOM_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, min·2^attempt)].
 * Full jitter spreads a crowd of clients that lost the same node, so the node
 * they move to is not hit by all of them in the same millisecond.
 * @param {number} attempt 0 for the first retry
 * @param {number} min
 * @param {number} max
 * @param {() => number} [random]
 */
export function backoffDelay(attempt, min, max, random = Math.random) {
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * The `exp` claim of a JWT in milliseconds, or null when it cannot be read.
 * The client never verifies tokens (it has no secret); it only reads `exp` to
 * know when a cached token is stale and whether a refreshed one is newer.
 * @param {string | null | undefined} token
 */
export function tokenExpiry(token) {
  if (typeof token !== 'string') return null;
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
    return typeof json.exp === 'number' ? json.exp * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * A set of the last `capacity` ids, for dropping duplicate messages in bounded memory.
 * A `Set` iterates in insertion order, so the oldest id is always the first one.
 */
export class IdSet {
  /** @param {number} capacity */
  constructor(capacity) {
    this.capacity = Math.max(1, capacity);
    /** @type {Set<string>} */
    this.ids = new Set();
  }

  /** @param {string} id */
  has(id) {
    return this.ids.has(id);
  }

  /** @param {string} id */
  add(id) {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }

  get size() {
    return this.ids.size;
  }
}

/**
 * The WebSocket URL for one attempt: `http(s)` becomes `ws(s)`, a bare host gets
 * the `/ws` path, relative URLs resolve against the page, then `token`/`anon` are set.
 * @param {string} base
 * @param {{token?: string | null, anon?: string | null}} params
 */
export function wsUrl(base, params) {
  const page = /** @type {any} */ (globalThis).location?.href;
  const url = new URL(base, page);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws';
  url.searchParams.delete('token');
  url.searchParams.delete('anon');
  if (params.token) url.searchParams.set('token', params.token);
  else if (params.anon) url.searchParams.set('anon', params.anon);
  return url.toString();
}

/** UTF-8 length of a string (the server's frame limit is in bytes). */
const encoder = new TextEncoder();
/** @param {string} s */
export function byteLength(s) {
  return encoder.encode(s).length;
}

/** A logger that drops everything (the default: a library should not print). */
export const silentLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});
