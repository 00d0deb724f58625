// HS256 JWTs for tests, signed with the test server's secret (as the platform's
// backend would mint them).

import { createHmac } from 'node:crypto';

const b64url = (/** @type {Buffer | string} */ b) => Buffer.from(b).toString('base64url');

/**
 * @param {string} secret
 * @param {{sub: string, name?: string, mod?: string[], badges?: string[], ttlS?: number}} claims
 */
export function signJwt(secret, { ttlS = 3600, ...claims }) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + ttlS }));
  const sig = b64url(createHmac('sha256', secret).update(`${header}.${body}`).digest());
  return `${header}.${body}.${sig}`;
}
