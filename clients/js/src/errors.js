/**
 * The error every rejected request and every `error` event carries.
 *
 * `code` is the server's error code (`rate_limited`, `banned`, …, see the
 * contract §2 and §10) or one of the client's own:
 * - `timeout`: no reply within the request timeout;
 * - `disconnected`: the connection dropped (or was never there) before the reply;
 * - `buffer_full`: the offline send buffer is full;
 * - `too_large`: the frame would exceed the server's frame limit (it would close the connection);
 * - `invalid`: bad arguments (checked before anything is sent).
 */
export class RoomcastError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{retryAfterMs?: number, ref?: string, room?: string, cause?: unknown}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'RoomcastError';
    /** @type {string} */
    this.code = code;
    /** @type {number | undefined} milliseconds until a retry can succeed (`rate_limited`, `slow_mode`, `timed_out`) */
    this.retryAfterMs = extra.retryAfterMs;
    /** @type {string | undefined} */
    this.ref = extra.ref;
    /** @type {string | undefined} */
    this.room = extra.room;
  }

  /**
   * Build from a server `error` frame.
   * @param {{code?: string, message?: string, retry_after_ms?: number, ref?: string, room?: string}} frame
   */
  static fromFrame(frame) {
    return new RoomcastError(frame.code ?? 'internal', frame.message ?? frame.code ?? 'error', {
      retryAfterMs: typeof frame.retry_after_ms === 'number' ? frame.retry_after_ms : undefined,
      ref: frame.ref,
      room: frame.room,
    });
  }
}
