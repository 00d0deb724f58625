// The REST API (contract §3, §7, §9) as the signed-in identity: every call carries
// the API key or the moderator's JWT, so the server's own checks decide.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0: no answer)
   * @param {string} code the server's error code (`not_found`, `forbidden`, …)
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * One API call. Resolves with the JSON body (null for 204), rejects with ApiError.
 * @param {{authorization(): string}} session
 * @param {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} method
 * @param {string} path e.g. `/api/rooms/${room}/moderation?limit=50`
 * @param {unknown} [body] sent as JSON
 */
export async function request(session, method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: session.authorization(), Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'disconnected', `the server cannot be reached (${err?.message ?? err})`);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = data?.error ?? {};
    throw new ApiError(res.status, e.code ?? `http_${res.status}`, e.message ?? res.statusText);
  }
  return data;
}

/** A path segment: room and user ids go into URLs encoded. */
export const seg = encodeURIComponent;
