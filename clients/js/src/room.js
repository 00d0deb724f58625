import { Emitter } from './emitter.js';
import { RoomcastError } from './errors.js';
import { IdSet } from './util.js';

/** `typing` is accepted at most once per 3 s per connection (§8); more would only cost frame budget. */
const TYPING_INTERVAL_MS = 3000;

/** The contract's cap on `joined.recent` without recovery ("the room's last ≤ 50"). */
const RECENT_CAP = 50;

/** Join refusals worth retrying on their own (after `retry_after_ms`). */
const RETRY_JOIN = new Set(['rate_limited']);

/**
 * One room as seen by one client. Made by `client.room(id)`.
 *
 * The room remembers that the app wants it joined: after every reconnect it is
 * joined again, with `since: {seq, epoch}` when it has seen a `seq`, so the server
 * can send exactly what was missed (§5). It stops wanting to be joined on `leave()`,
 * on a ban (`left` with reason `banned`) and when a join is refused.
 */
export class Room extends Emitter {
  /** @type {any} the client's internals (see client.js `#internals`) */
  #c;
  /** @type {'left' | 'joining' | 'joined'} */
  #status = 'left';
  #wanted = false;
  #everJoined = false;
  /** Bumped on every join attempt, so that a late answer to an old one is ignored. */
  #joinGen = 0;
  /** A join frame is on its way (or its room token is being fetched). */
  #joining = false;
  /** @type {string | null} */
  #joinRef = null;
  /** @type {string | null} */
  #leaveRef = null;
  /** @type {Array<{resolve: Function, reject: Function}>} */
  #joinWaiters = [];
  /** @type {Array<() => void>} */
  #leaveWaiters = [];
  /** @type {ReturnType<typeof setTimeout> | null} */
  #retryTimer = null;
  /** @type {any} */
  #lastJoined = null;
  /** @type {((room: string) => any) | undefined} */
  #getRoomToken;
  #seen;
  /** Highest message id seen (ULIDs sort by time): the catch-up point when there is no `seq`. */
  /** @type {string | null} */
  #lastId = null;
  #lastTyping = 0;
  /** @type {{message: any, until: number} | null} */
  #pinned = null;

  /** @type {number | null} cluster-wide viewer count (from `joined` and `viewers`) */
  viewers = null;
  /** slow mode interval in seconds, 0 = off */
  slowMode = 0;
  /** @type {Record<string, any> | null} the room's settings (§7), null until the server sends them */
  settings = null;
  /** @type {Map<string, unknown>} room state (§8): key → last value */
  state = new Map();
  /** @type {number | null} latest `seq` seen (§5), null when the server sends none */
  seq = null;
  /** @type {string | null} the room's sequence epoch (§5) */
  epoch = null;
  /** @type {boolean | null} the last join's `recovered` (null: the join did not ask, or the server does not recover) */
  recovered = null;
  /** true after a ban removed us; `join()` clears it (the server decides whether the ban still holds) */
  banned = false;

  /**
   * @param {string} id
   * @param {any} internals
   * @param {{dedupSize?: number, getRoomToken?: (room: string) => any}} options
   */
  constructor(id, internals, options) {
    super();
    /** @type {string} */
    this.id = id;
    this.#c = internals;
    this.#seen = new IdSet(options.dedupSize ?? 1000);
    this.#getRoomToken = options.getRoomToken;
  }

  /** `left`, `joining` (asked, or waiting for the connection) or `joined`. */
  get status() {
    return this.#status;
  }

  get joined() {
    return this.#status === 'joined';
  }

  /** The live pin (§7), or null (also once its `until` has passed). */
  get pinned() {
    const p = this.#pinned;
    if (p && typeof p.until === 'number' && p.until <= Date.now()) return null;
    return p;
  }

  /**
   * Join the room (and keep it joined across reconnects until `leave()`).
   * Resolves with the `joined` event once joined; while disconnected it waits for
   * the connection. Rejects when the server refuses the join (`banned`, `forbidden`,
   * `too_many_rooms`, …) or on `timeout`.
   * @returns {Promise<any>}
   */
  join() {
    this.#wanted = true;
    this.banned = false;
    if (this.#status === 'joined') return Promise.resolve(this.#lastJoined);
    const p = new Promise((resolve, reject) => this.#joinWaiters.push({ resolve, reject }));
    // Joining is also a standing wish: apps often call join() without awaiting it, and a
    // refusal is emitted as an `error` event as well, so an unawaited one must not
    // become an unhandled rejection.
    p.catch(() => {});
    this.#status = 'joining';
    if (this.#c.connected() && !this.#joining && !this.#retryTimer) this.#sendJoin();
    return p;
  }

  /**
   * Leave the room and stop re-joining it. Buffered messages for it are rejected.
   * Resolves once the server confirmed (or at once when not connected).
   * @returns {Promise<void>}
   */
  leave() {
    const wasIn = this.#status !== 'left';
    this.#wanted = false;
    this.#clearRetry();
    const err = new RoomcastError('not_joined', `left room ${this.id}`, { room: this.id });
    this.#rejectJoinWaiters(err);
    this.#c.dropQueued(this, err);
    this.#status = 'left';
    this.#forget();
    this.#joinGen++;
    this.#joining = false;
    if (this.#joinRef) this.#c.settle(this.#joinRef);
    this.#joinRef = null;
    if (!wasIn || !this.#c.connected()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#leaveWaiters.push(resolve);
      const ref = this.#c.nextRef();
      this.#leaveRef = ref;
      // `left` carries no ref: the room resolves on it. The ref is here for an `error` reply.
      this.#c.register(ref, { resolve: () => {}, reject: () => this.#resolveLeave(), expect: [] });
      try {
        if (!this.#c.send({ type: 'leave', room: this.id, ref })) this.#resolveLeave();
      } catch {
        this.#resolveLeave();
      }
    });
  }

  /**
   * Send a chat message. Resolves with `{id}` on `ack`, or `{id, held: true}` when
   * AutoMod holds it for review (§7). While the connection or the room's re-join is
   * not there, the message waits in the offline buffer (see the README).
   * @param {string} text
   * @returns {Promise<{id: string, held?: boolean}>}
   */
  send(text) {
    if (typeof text !== 'string') return Promise.reject(new RoomcastError('invalid', 'text must be a string'));
    if (!this.#wanted) {
      return Promise.reject(new RoomcastError('not_joined', `join room ${this.id} first`, { room: this.id }));
    }
    if (this.#status === 'joined' && this.#c.connected()) return this._sendNow(text);
    return this.#c.enqueue(this, text);
  }

  /**
   * @internal Send a message now (the room is joined).
   * @param {string} text
   */
  _sendNow(text) {
    return this.#c.request(
      { type: 'message', room: this.id, text },
      {
        expect: ['ack', 'held'],
        map: (/** @type {any} */ f) => (f.type === 'held' ? { id: f.id, held: true } : { id: f.id }),
      },
    );
  }

  /**
   * Send a reaction. Fire and forget: a success has no reply (it shows in the next
   * `reactions`); a refusal comes as an `error` event. Returns false when not joined.
   * @param {string} emoji
   */
  react(emoji) {
    if (this.#status !== 'joined') return false;
    return this.#trySend({ type: 'reaction', room: this.id, emoji });
  }

  /**
   * Tell the room this user is typing (§8). Throttled to one frame per 3 s; returns
   * whether a frame went out.
   */
  typing() {
    if (this.#status !== 'joined') return false;
    const now = Date.now();
    if (now - this.#lastTyping < TYPING_INTERVAL_MS) return false;
    if (!this.#trySend({ type: 'typing', room: this.id })) return false;
    this.#lastTyping = now;
    return true;
  }

  /**
   * Older messages, oldest first.
   * @param {{before?: string, limit?: number}} [options]
   * @returns {Promise<any[]>}
   */
  history(options = {}) {
    /** @type {Record<string, any>} */
    const frame = { type: 'history', room: this.id };
    if (options.before !== undefined) frame.before = options.before;
    if (options.limit !== undefined) frame.limit = options.limit;
    return this.#c.request(frame, { expect: ['history'], map: (/** @type {any} */ f) => f.messages ?? [] });
  }

  // Moderator actions: each answered `ack` (`{id}` = message id for delete, else the
  // moderation-log id) or rejected with `forbidden` & co. A moderator need not be joined.

  /** @param {string} id */
  delete(id) {
    return this.#mod('delete', { id });
  }
  /** @param {string} user @param {number} seconds @param {string} [reason] */
  timeout(user, seconds, reason) {
    return this.#mod('timeout', { user, seconds, reason });
  }
  /** @param {string} user @param {string} [reason] */
  ban(user, reason) {
    return this.#mod('ban', { user, reason });
  }
  /** Lifts a ban, a timeout and a shadow ban. @param {string} user */
  unban(user) {
    return this.#mod('unban', { user });
  }
  /** `slow_mode` frame (0 = off). @param {number} seconds */
  setSlowMode(seconds) {
    return this.#mod('slow_mode', { seconds });
  }
  /** `settings` frame: a partial update of the room's settings (§7). @param {Record<string, any>} settings */
  updateSettings(settings) {
    return this.#mod('settings', { settings });
  }
  /** @param {string} user */
  shadowBan(user) {
    return this.#mod('shadow_ban', { user });
  }
  /** @param {string} user @param {string} [reason] */
  warn(user, reason) {
    return this.#mod('warn', { user, reason });
  }
  clear() {
    return this.#mod('clear', {});
  }
  /** @param {string} user */
  purge(user) {
    return this.#mod('purge', { user });
  }
  /** @param {string} id @param {number} seconds 60–1800 */
  pin(id, seconds) {
    return this.#mod('pin', { id, seconds });
  }
  unpin() {
    return this.#mod('unpin', {});
  }
  /** Publish a held message (§7). @param {string} id */
  approve(id) {
    return this.#mod('approve', { id });
  }
  /** Drop a held message (§7). @param {string} id */
  deny(id) {
    return this.#mod('deny', { id });
  }
  /** Acknowledge a `warning`, so this user may chat again (§7). Not a moderator action. */
  acknowledge() {
    return this.#mod('acknowledge', {});
  }

  // ---------------------------------------------------------------------------
  // Called by the client

  /** @internal @param {(room: string) => any} fn */
  _setRoomToken(fn) {
    this.#getRoomToken = fn;
  }

  /** @internal A connection is up (after `welcome`). */
  _onConnected() {
    if (this.#wanted && this.#status !== 'joined' && !this.#joining) {
      this.#status = 'joining';
      this.#sendJoin();
    }
  }

  /** @internal The connection is gone. A wanted room waits to be joined again. */
  _onDisconnected() {
    this.#joinGen++;
    this.#joining = false;
    this.#joinRef = null;
    this.#clearRetry();
    this.#status = this.#wanted ? 'joining' : 'left';
    this.#resolveLeave();
  }

  /**
   * @internal A frame for this room.
   * @param {any} f
   */
  _handle(f) {
    switch (f.type) {
      case 'joined':
        return this.#onJoined(f);
      case 'left':
        return this.#onLeft(f);
      case 'message':
        return this.#onMessage(f);
      case 'viewers':
        if (typeof f.count === 'number') this.viewers = f.count;
        return void this.emit('viewers', f);
      case 'slow_mode':
        this.slowMode = Number(f.seconds) || 0;
        if (this.settings) this.settings = { ...this.settings, slow_mode: this.slowMode };
        return void this.emit('slow_mode', f);
      case 'settings':
        if (f.settings && typeof f.settings === 'object') {
          this.settings = f.settings;
          if (typeof f.settings.slow_mode === 'number') this.slowMode = f.settings.slow_mode;
        }
        return void this.emit('settings', f);
      case 'state':
        if (typeof f.key === 'string') {
          if (f.data === null || f.data === undefined) this.state.delete(f.key);
          else this.state.set(f.key, f.data);
        }
        return void this.emit('state', f);
      case 'pinned':
        this.#pinned = f.message ? { message: f.message, until: f.until } : null;
        return void this.emit('pinned', f);
      case 'error':
        return void this.emit('error', RoomcastError.fromFrame(f));
      case 'history':
        // A reply that arrived after its request timed out.
        return;
      default:
        // reactions, deleted, moderation, event, typing, cleared, held_message, denied,
        // warning, stream, milestone, stats — and any frame a newer server adds.
        return void this.emit(f.type, f);
    }
  }

  // ---------------------------------------------------------------------------

  async #sendJoin() {
    const gen = ++this.#joinGen;
    this.#joining = true;
    this.#clearRetry();
    /** @type {Record<string, any>} */
    const frame = { type: 'join', room: this.id };
    // Resume (§5) only from a position the server gave us: seq and epoch together.
    if (this.seq !== null && this.epoch !== null) frame.since = { seq: this.seq, epoch: this.epoch };
    if (this.#getRoomToken) {
      try {
        const token = await this.#getRoomToken(this.id);
        if (token) frame.token = token;
      } catch (err) {
        if (gen !== this.#joinGen) return;
        this.#joining = false;
        const e = new RoomcastError('internal', `getRoomToken failed: ${/** @type {any} */ (err)?.message ?? err}`, {
          room: this.id,
          cause: err,
        });
        this.#rejectJoinWaiters(e);
        this.emit('error', e);
        return; // still wanted: the next connection tries again
      }
      if (gen !== this.#joinGen) return;
      if (!this.#wanted || !this.#c.connected()) {
        this.#joining = false;
        return;
      }
    }
    const ref = this.#c.nextRef();
    frame.ref = ref;
    this.#joinRef = ref;
    // `joined` carries no ref (the room resolves on it); the ref matches an `error` reply.
    this.#c.register(ref, {
      resolve: () => {},
      reject: (/** @type {RoomcastError} */ err) => this.#onJoinError(err, gen),
      expect: [],
    });
    try {
      if (!this.#c.send(frame)) {
        // The socket went away meanwhile: the reconnect re-joins.
        this.#c.settle(ref);
        this.#joining = false;
        this.#joinRef = null;
      }
    } catch (err) {
      this.#c.settle(ref);
      this.#onJoinError(/** @type {RoomcastError} */ (err), gen);
    }
  }

  /**
   * @param {RoomcastError} err
   * @param {number} gen
   */
  #onJoinError(err, gen) {
    if (gen !== this.#joinGen) return;
    this.#joinRef = null;
    this.#joining = false;
    if (err.code === 'disconnected') return; // re-joined after the reconnect
    if (err.code === 'timeout') {
      // Still joining: a late `joined` is taken; the waiters are told now.
      this.#rejectJoinWaiters(err);
      this.emit('error', err);
      return;
    }
    if (RETRY_JOIN.has(err.code)) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null;
        if (this.#wanted && this.#c.connected() && this.#status === 'joining') this.#sendJoin();
      }, err.retryAfterMs ?? 1000);
      return;
    }
    // Refused (banned, forbidden, too_many_rooms, room_limit, bad_request, …): asking
    // again on every reconnect would get the same answer.
    this.#wanted = false;
    this.#status = 'left';
    if (err.code === 'banned') this.banned = true;
    this.#rejectJoinWaiters(err);
    this.#c.dropQueued(this, err);
    this.emit('error', err);
  }

  /** @param {any} f */
  #onJoined(f) {
    if (this.#joinRef) {
      this.#c.settle(this.#joinRef);
      this.#joinRef = null;
    }
    this.#joining = false;
    // leave() was called while this join was on its way: our `leave` follows it.
    if (!this.#wanted) return;
    const rejoin = this.#everJoined;
    const prevSeq = this.seq;
    const prevLastId = this.#lastId;
    const sameEpoch = this.epoch !== null && typeof f.epoch === 'string' && f.epoch === this.epoch;

    this.#status = 'joined';
    this.#everJoined = true;
    if (typeof f.viewers === 'number') this.viewers = f.viewers;
    if (f.settings && typeof f.settings === 'object') this.settings = f.settings;
    this.slowMode = Number(f.settings?.slow_mode ?? f.slow_mode) || 0;
    if (f.state && typeof f.state === 'object') {
      // Refill the same Map: the app may hold a reference to it.
      this.state.clear();
      for (const [k, v] of Object.entries(f.state)) if (v !== null) this.state.set(k, v);
    }
    this.#pinned = f.pinned?.message ? { message: f.pinned.message, until: f.pinned.until } : null;
    this.recovered = typeof f.recovered === 'boolean' ? f.recovered : null;
    this.epoch = typeof f.epoch === 'string' ? f.epoch : null;

    /** @type {any[]} */
    const recent = Array.isArray(f.recent) ? f.recent.filter((/** @type {any} */ m) => m && typeof m.id === 'string') : [];

    // What did we miss while away? With a seq in the same epoch, everything after it;
    // otherwise (v1 server) everything newer than the newest id we saw.
    /** @type {any[]} */
    let missed = [];
    let continuous = true;
    if (rejoin) {
      const bySeq = prevSeq !== null && sameEpoch;
      missed = recent.filter(
        (m) =>
          !this.#seen.has(m.id) &&
          (bySeq && typeof m.seq === 'number' ? m.seq > prevSeq : prevLastId === null || m.id > prevLastId),
      );
      if (this.recovered !== null) {
        continuous = this.recovered;
      } else {
        // No recovery answer: `recent` (the last ≤ 50) proves we missed nothing only if it
        // reaches back to what we had already seen, or holds the room's whole recent list.
        continuous =
          recent.length < RECENT_CAP || (prevLastId !== null && recent.some((m) => m.id <= prevLastId));
      }
    }

    for (const m of recent) this.#remember(m);
    if (typeof f.seq === 'number') {
      this.seq = f.seq;
    } else {
      const seqs = recent.map((m) => m.seq).filter((s) => typeof s === 'number');
      this.seq = seqs.length ? Math.max(...seqs) : sameEpoch ? this.seq : null;
    }

    const event = { ...f, rejoin, missed };
    this.#lastJoined = event;
    const waiters = this.#joinWaiters;
    this.#joinWaiters = [];
    for (const w of waiters) w.resolve(event);
    this.emit('joined', event);
    if (rejoin && !continuous) {
      this.emit('discontinuity', {
        room: this.id,
        reason: this.recovered === false ? 'recovery_failed' : 'no_recovery',
        lastSeq: prevSeq,
        lastId: prevLastId,
        seq: this.seq,
        epoch: this.epoch,
      });
    }
    for (const m of missed) this.emit('message', m);
    this.#c.flush(this);
  }

  /** @param {any} f */
  #onLeft(f) {
    if (this.#leaveRef) {
      this.#c.settle(this.#leaveRef);
      this.#leaveRef = null;
    }
    if (f.reason === 'banned') {
      // A ban means: do not come back (the server would refuse anyway).
      this.#wanted = false;
      this.banned = true;
      this.#forget();
      this.#c.dropQueued(this, new RoomcastError('banned', `banned from room ${this.id}`, { room: this.id }));
    }
    // `shutdown`: the node is draining; the reconnect re-joins. `leave`: our own leave
    // (unless join() was called again meanwhile, which has its own join in flight).
    if (!this.#wanted) this.#status = 'left';
    else if (this.#status === 'joined') this.#status = 'joining';
    this.emit('left', f);
    this.#resolveLeave();
  }

  /** @param {any} f */
  #onMessage(f) {
    // With chat delay (§7) moderators get an early copy (`delayed`, no seq) and the
    // published one later, with the same id: the early one must not hide the other.
    if (f.delayed === true || typeof f.id !== 'string') {
      this.emit('message', f);
      return;
    }
    if (this.#seen.has(f.id)) return;
    this.#remember(f);
    if (typeof f.seq === 'number') {
      if (this.seq !== null && f.seq > this.seq + 1) {
        this.emit('discontinuity', {
          room: this.id,
          reason: 'gap',
          lastSeq: this.seq,
          lastId: null,
          seq: f.seq,
          epoch: this.epoch,
        });
      }
      if (this.seq === null || f.seq > this.seq) this.seq = f.seq;
    }
    this.emit('message', f);
  }

  /** @param {any} m */
  #remember(m) {
    if (m.delayed === true) return;
    this.#seen.add(m.id);
    if (this.#lastId === null || m.id > this.#lastId) this.#lastId = m.id;
  }

  /**
   * @param {string} type
   * @param {Record<string, any>} fields
   * @returns {Promise<{id?: string}>}
   */
  #mod(type, fields) {
    return this.#c.request(
      { type, room: this.id, ...fields },
      { expect: ['ack'], map: (/** @type {any} */ f) => (f.id === undefined ? {} : { id: f.id }) },
    );
  }

  /** @param {object} frame */
  #trySend(frame) {
    try {
      return this.#c.send(frame);
    } catch (err) {
      this.#c.log().warn('roomcast: could not send', err);
      return false;
    }
  }

  /** @param {RoomcastError} err */
  #rejectJoinWaiters(err) {
    const waiters = this.#joinWaiters;
    this.#joinWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  #resolveLeave() {
    if (this.#leaveRef) {
      this.#c.settle(this.#leaveRef);
      this.#leaveRef = null;
    }
    const waiters = this.#leaveWaiters;
    this.#leaveWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * An explicit leave (or a ban) ends the membership: a later join() is a fresh start,
   * not a resume (no `since`, no burst of "missed" messages from while we were gone).
   */
  #forget() {
    this.#everJoined = false;
    this.seq = null;
    this.epoch = null;
    this.recovered = null;
    this.#lastId = null;
  }

  #clearRetry() {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }
}
