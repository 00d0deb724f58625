// Who is signed in, kept in memory only (module-private fields; nothing goes to
// localStorage, sessionStorage or cookies): a moderator's JWT, or the platform's
// API key plus the short-lived `mod: ["*"]` token the console mints with it for
// its live connection (contract §9, `POST /api/tokens`).

import { ApiError, request } from './api.js';

/** Lifetime of the console's own token, in seconds; the client refreshes it. */
const MINTED_TTL_S = 900;
/** Mint a new token when the current one has less than this left, in ms. */
const MINT_MARGIN_MS = 120_000;

/**
 * The payload of a JWT, decoded without checking the signature (the server checks
 * it; the console only reads `sub`, `mod` and `exp` to know what to show).
 * @param {string} jwt
 * @returns {Record<string, any>}
 */
export function jwtPayload(jwt) {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('this is not a JWT (three dot-separated parts)');
  const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  const payload = JSON.parse(new TextDecoder().decode(bytes));
  if (!payload || typeof payload !== 'object') throw new Error('the token has no claims');
  return payload;
}

export class Session {
  /** @type {string | null} the platform's API key (key sign-in) */
  #apiKey = null;
  /** @type {string | null} the moderator's JWT (token sign-in) */
  #jwt = null;
  /** @type {{token: string, expiresAt: number} | null} the console's minted token (key sign-in) */
  #minted = null;
  /** @type {Promise<string> | null} */
  #minting = null;

  /**
   * @param {'key' | 'jwt'} mode
   * @param {{apiKey?: string, jwt?: string, name?: string, claims?: Record<string, any>}} init
   */
  constructor(mode, init) {
    /** @type {'key' | 'jwt'} */
    this.mode = mode;
    this.#apiKey = init.apiKey ?? null;
    this.#jwt = init.jwt ?? null;
    /** Display name: the staff member's (key) or the token's `name`/`sub` (JWT). */
    this.name = init.name ?? '';
    /** @type {Record<string, any>} the JWT's claims (token sign-in only) */
    this.claims = init.claims ?? {};
  }

  /**
   * Sign in with the API key: mint the first token now, so a wrong key is told at once.
   * @param {string} apiKey
   * @param {string} name who the staff member is (the token's `sub`, shown in the log)
   */
  static async withKey(apiKey, name) {
    const s = new Session('key', { apiKey, name });
    await s.wsToken();
    return s;
  }

  /**
   * Sign in with a moderator's JWT. Checked here only for shape, expiry and a `mod`
   * claim; the server checks the signature when the console connects.
   * @param {string} jwt
   */
  static withJwt(jwt) {
    const claims = jwtPayload(jwt);
    if (typeof claims.sub !== 'string' || !claims.sub) throw new Error('the token has no `sub` claim');
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) throw new Error('the token has expired');
    const mod = Array.isArray(claims.mod) ? claims.mod.filter((r) => typeof r === 'string') : [];
    if (!mod.length) throw new Error('this token moderates no room (its `mod` claim is empty)');
    return new Session('jwt', { jwt, claims: { ...claims, mod }, name: claims.name || claims.sub });
  }

  /** Whether this identity moderates every room (the API key, or `mod: ["*"]`). */
  get all() {
    return this.mode === 'key' || this.claims.mod.includes('*');
  }

  /** The rooms a JWT names in its `mod` claim (without `*`). */
  get modRooms() {
    return this.mode === 'jwt' ? this.claims.mod.filter((r) => r !== '*') : [];
  }

  /** When a moderator JWT expires (epoch ms); Infinity for the API key (its tokens are renewed). */
  expiresAt() {
    return this.mode === 'jwt' && typeof this.claims.exp === 'number' ? this.claims.exp * 1000 : Infinity;
  }

  /** Whether the moderator JWT has expired. */
  expired() {
    return this.expiresAt() <= Date.now();
  }

  /** The `Authorization` header for the REST API: the API key, or the moderator's JWT. */
  authorization() {
    return `Bearer ${this.#apiKey ?? this.#jwt ?? ''}`;
  }

  /**
   * The token for the live connection (roomcast-client's `getToken`): the JWT, or a
   * minted token, minted again when it is close to expiry.
   * @returns {Promise<string>}
   */
  async wsToken() {
    if (this.#jwt) return this.#jwt;
    if (this.#minted && this.#minted.expiresAt - Date.now() > MINT_MARGIN_MS) return this.#minted.token;
    this.#minting ??= this.#mint().finally(() => (this.#minting = null));
    return this.#minting;
  }

  async #mint() {
    if (!this.#apiKey) throw new ApiError(401, 'unauthorized', 'signed out');
    const body = { sub: this.name, name: this.name.slice(0, 32), mod: ['*'], ttl_s: MINTED_TTL_S };
    const r = await request(this, 'POST', '/api/tokens', body);
    if (!r || typeof r.token !== 'string') throw new ApiError(500, 'internal', 'POST /api/tokens gave no token');
    this.#minted = { token: r.token, expiresAt: Number(r.expires_at) || Date.now() + MINTED_TTL_S * 1000 };
    return r.token;
  }

  /** Sign out: drop every secret. */
  forget() {
    this.#apiKey = null;
    this.#jwt = null;
    this.#minted = null;
    this.claims = {};
  }
}
