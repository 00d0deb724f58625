import { Emitter } from './emitter.js';
import { RoomcastError } from './errors.js';
import { Room } from './room.js';
import { ROOM_ID, backoffDelay, byteLength, silentLogger, tokenExpiry, wsUrl } from './util.js';

/** WebSocket readyState OPEN (the same in browsers and `ws`). */
const OPEN = 1;

/** A connection that lived this long was healthy: the next drop starts the backoff over. */
const STABLE_MS = 5000;

/** Safety net after a `reconnect` frame: the server closes right after it; if it does not, we do. */
const RECONNECT_FRAME_GRACE_MS = 1000;

/** Client close code for "we gave up on this connection" (heartbeat, connect timeout). */
const CLOSE_DEAD = 4000;

const DEFAULTS = {
  minReconnectDelay: 500,
  maxReconnectDelay: 20000,
  requestTimeout: 10000,
  connectTimeout: 10000,
  pongTimeout: 10000,
  offlineQueueSize: 50,
  offlineTimeout: 30000,
  maxUnauthorized: 3,
  maxFrameBytes: 4096,
  dedupSize: 1000,
};

/**
 * A roomcast connection: one WebSocket, reconnected for as long as the app wants it,
 * and the rooms joined over it.
 *
 * Connection states (event `state`):
 * - `closed`: not connected and not trying (initially, after `close()`, or after the
 *   server said not to come back: repeated 401, 1008 "too many bad frames");
 * - `connecting`: an attempt is under way (token, socket, waiting for `welcome`);
 * - `connected`: `welcome` received;
 * - `disconnected`: the connection dropped; a reconnect is scheduled.
 */
export class Roomcast extends Emitter {
  /** @type {Required<typeof DEFAULTS>} */
  #opts;
  /** @type {(string | string[] | ((info: {attempt: number}) => string | Promise<string>))} */
  #url;
  /** @type {() => (string | null | undefined | Promise<string | null | undefined>)} */
  #getToken;
  /** @type {any} */
  #WebSocket;
  /** @type {{debug: Function, info: Function, warn: Function, error: Function}} */
  #log;

  /** @type {'closed' | 'connecting' | 'connected' | 'disconnected'} */
  #state = 'closed';
  /** Does the app want a connection? (connect() until close()) */
  #wanted = false;
  /** @type {any} the live socket, or null */
  #ws = null;
  /** Bumped for every attempt so that late async results of an old attempt are ignored. */
  #attempt = 0;
  /** Failed or dropped attempts in a row (the backoff exponent). */
  #failures = 0;
  /** 401s in a row before the upgrade. */
  #unauthorized = 0;
  /** Index into a URL list; rotated on every reconnect. */
  #urlIndex = -1;
  #connectedAt = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #reconnectTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #connectTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #heartbeatTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #refreshTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #graceTimer = null;
  /** When the server's `reconnect` frame asked us to come back (epoch ms), else null. */
  #reconnectAt = /** @type {number | null} */ (null);
  /** HTTP status of a refused upgrade, when the WebSocket implementation lets us see it. */
  #upgradeStatus = /** @type {number | null} */ (null);

  /** @type {string | null | undefined} undefined = not fetched yet, or known to be stale */
  #token = undefined;
  /** An anonymous session's id, sent back as `?anon=` so the id survives reconnects (§6). */
  #anonId = /** @type {string | null} */ (null);

  #refSeq = 0;
  /** @type {Map<string, {resolve: Function, reject: Function, timer: any, expect: string[], map: Function}>} */
  #pending = new Map();
  /** Chat messages waiting for the connection (and their room's re-join). */
  /** @type {Array<{room: Room, text: string, resolve: Function, reject: Function, timer: any}>} */
  #offline = [];
  /** @type {Map<string, Room>} */
  #rooms = new Map();
  /** @type {(() => void) | null} */
  #onlineListener = null;

  /** @type {any} the last `welcome.user` */
  user = null;
  /** @type {string | null} `welcome.node` */
  node = null;
  /** @type {number | null} `welcome.expires_at` (ms), kept up to date by refreshes */
  expiresAt = null;
  /** @type {number | null} `welcome.heartbeat_ms` */
  heartbeatMs = null;

  /**
   * @param {object} options
   * @param {string | string[] | ((info: {attempt: number}) => string | Promise<string>)} options.url
   *   the `/ws` URL, a list to rotate through on every reconnect, or a function picking one
   * @param {() => (string | null | undefined | Promise<string | null | undefined>)} [options.getToken]
   *   returns the user's JWT, or null for an anonymous viewer
   * @param {any} [options.WebSocket] a WebSocket constructor (default `globalThis.WebSocket`; in Node 20 pass `ws`)
   * @param {number} [options.minReconnectDelay]
   * @param {number} [options.maxReconnectDelay]
   * @param {number} [options.requestTimeout]
   * @param {number} [options.connectTimeout]
   * @param {number} [options.pongTimeout]
   * @param {number} [options.offlineQueueSize] 0 = reject sends at once while disconnected
   * @param {number} [options.offlineTimeout]
   * @param {number} [options.maxUnauthorized]
   * @param {number} [options.maxFrameBytes]
   * @param {number} [options.dedupSize]
   * @param {{debug?: Function, info?: Function, warn?: Function, error?: Function}} [options.logger]
   */
  constructor(options) {
    super();
    if (!options || options.url === undefined) throw new TypeError('Roomcast: `url` is required');
    const { url, getToken, WebSocket, logger, ...rest } = options;
    this.#url = url;
    this.#getToken = getToken ?? (() => null);
    this.#WebSocket = WebSocket ?? /** @type {any} */ (globalThis).WebSocket;
    if (typeof this.#WebSocket !== 'function') {
      throw new TypeError('Roomcast: no WebSocket available; pass the `WebSocket` option (e.g. the `ws` package in Node)');
    }
    /** @type {any} */
    const l = logger ?? silentLogger;
    // Bound once; a logger may implement only some levels.
    this.#log = {
      debug: (/** @type {any[]} */ ...a) => l.debug?.(...a),
      info: (/** @type {any[]} */ ...a) => l.info?.(...a),
      warn: (/** @type {any[]} */ ...a) => l.warn?.(...a),
      error: (/** @type {any[]} */ ...a) => l.error?.(...a),
    };
    /** @type {any} */
    const opts = { ...DEFAULTS };
    for (const [k, v] of Object.entries(rest)) if (v !== undefined && k in DEFAULTS) opts[k] = v;
    this.#opts = opts;
  }

  /** The connection state. */
  get state() {
    return this.#state;
  }

  /** Every room object made by `room()`, by id. */
  get rooms() {
    return new Map(this.#rooms);
  }

  /** Start connecting (and keep reconnecting until `close()`). Joined rooms are re-joined. */
  connect() {
    if (this.#wanted) return;
    this.#wanted = true;
    this.#unauthorized = 0;
    this.#failures = 0;
    this.#listenOnline(true);
    this.#open();
  }

  /**
   * Close the connection and stop reconnecting. Rooms keep their wish to be joined:
   * a later `connect()` re-joins them. Pending requests and buffered sends are rejected.
   */
  disconnect() {
    this.#wanted = false;
    this.#listenOnline(false);
    this.#clearTimer('reconnect');
    this.#attempt++; // an attempt still awaiting getToken() must not go on
    this.#teardown(1000, 'client closed');
    this.#afterClose(1000, 'client closed', {}); // rejects pending requests; rooms go quiet
    this.#rejectOffline(new RoomcastError('disconnected', 'client closed'));
    this.#setState('closed', 1000, 'client closed');
  }

  /** Alias of `disconnect()`. */
  close() {
    this.disconnect();
  }

  /**
   * Drop the current connection and connect again at once (a new `getToken()` call),
   * e.g. after the user logged in or out. Rooms are re-joined.
   */
  reconnect() {
    this.#token = undefined;
    if (!this.#wanted) return this.connect();
    this.#clearTimer('reconnect');
    this.#attempt++; // an attempt still awaiting getToken() must not go on
    if (this.#ws) this.#teardown(1000, 'client reconnect');
    this.#afterClose(1000, 'client reconnect', { immediate: true });
  }

  /**
   * Resolves once connected (at once if already), rejects after `timeoutMs` or when
   * the client closes for good.
   * @param {number} [timeoutMs]
   * @returns {Promise<void>}
   */
  ready(timeoutMs = this.#opts.connectTimeout) {
    if (this.#state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onState = (/** @type {any} */ e) => {
        if (e.state === 'connected') done(null);
        else if (e.state === 'closed') done(new RoomcastError('disconnected', `connection closed: ${e.reason || e.code}`));
      };
      const timer = setTimeout(() => done(new RoomcastError('timeout', 'not connected in time')), timeoutMs);
      const done = (/** @type {Error | null} */ err) => {
        clearTimeout(timer);
        this.off('state', onState);
        err ? reject(err) : resolve();
      };
      this.on('state', onState);
    });
  }

  /**
   * The room object for `id` (one per id and client). Call `join()` on it.
   * @param {string} id
   * @param {{getRoomToken?: (room: string) => (string | null | undefined | Promise<string | null | undefined>)}} [options]
   * @returns {Room}
   */
  room(id, options = {}) {
    if (typeof id !== 'string' || !ROOM_ID.test(id)) {
      throw new RoomcastError('invalid', `invalid room id ${JSON.stringify(id)}: 1-64 characters of A-Z a-z 0-9 _ . : -`);
    }
    let room = this.#rooms.get(id);
    if (!room) {
      room = new Room(id, this.#internals, { dedupSize: this.#opts.dedupSize, ...options });
      this.#rooms.set(id, room);
    } else if (options.getRoomToken) {
      room._setRoomToken(options.getRoomToken);
    }
    return room;
  }

  /**
   * Round trip to the server.
   * @returns {Promise<{ts: number, rtt: number}>}
   */
  ping() {
    const start = Date.now();
    return this.#request({ type: 'ping' }, {
      expect: ['pong'],
      map: (/** @type {any} */ f) => ({ ts: f.ts, rtt: Date.now() - start }),
    });
  }

  // ---------------------------------------------------------------------------
  // What rooms may use. Passed to each Room instead of being public API.

  #internals = {
    connected: () => this.#state === 'connected',
    log: () => this.#log,
    requestTimeout: () => this.#opts.requestTimeout,
    nextRef: () => this.#nextRef(),
    send: (/** @type {object} */ frame) => this.#send(frame),
    request: (/** @type {object} */ frame, /** @type {any} */ o) => this.#request(frame, o),
    register: (/** @type {string} */ ref, /** @type {any} */ entry) => this.#register(ref, entry),
    settle: (/** @type {string} */ ref) => this.#settle(ref),
    enqueue: (/** @type {Room} */ room, /** @type {string} */ text) => this.#enqueue(room, text),
    flush: (/** @type {Room} */ room) => this.#flush(room),
    dropQueued: (/** @type {Room} */ room, /** @type {RoomcastError} */ err) => this.#dropQueued(room, err),
  };

  // ---------------------------------------------------------------------------
  // Connecting

  async #open() {
    const attempt = ++this.#attempt;
    this.#clearTimer('reconnect');
    this.#setState('connecting', null, '');
    this.#upgradeStatus = null;
    this.#reconnectAt = null;

    let token;
    let url;
    try {
      token = await this.#currentToken();
      if (attempt !== this.#attempt) return;
      url = await this.#pickUrl();
      if (attempt !== this.#attempt) return;
    } catch (err) {
      if (attempt !== this.#attempt) return;
      this.#log.warn('roomcast: getToken or url failed', err);
      this.emit('error', wrap(err, 'getToken or url failed'));
      this.#token = undefined;
      this.#afterClose(1006, 'could not prepare the connection', {});
      return;
    }

    let ws;
    try {
      const target = wsUrl(url, { token, anon: token ? null : this.#anonId });
      this.#log.debug('roomcast: connecting', url);
      ws = new this.#WebSocket(target);
    } catch (err) {
      this.emit('error', wrap(err, 'could not open a WebSocket'));
      this.#afterClose(1006, 'could not open a WebSocket', {});
      return;
    }
    this.#ws = ws;
    this.#welcomed = false;

    ws.onmessage = (/** @type {any} */ ev) => {
      if (ws === this.#ws) this.#onFrame(ev.data);
    };
    ws.onerror = (/** @type {any} */ ev) => {
      if (ws !== this.#ws) return;
      // Browsers tell nothing about a refused upgrade; `ws` says "Unexpected server response: 401".
      const text = String(ev?.message ?? ev?.error?.message ?? '');
      const m = /server response: (\d{3})/.exec(text);
      if (m) this.#upgradeStatus = Number(m[1]);
      this.#log.debug('roomcast: socket error', text);
    };
    ws.onclose = (/** @type {any} */ ev) => {
      if (ws !== this.#ws) return;
      this.#detach(ws);
      this.#ws = null;
      this.#afterClose(ev?.code ?? 1006, ev?.reason ?? '', {});
    };
    // A socket can hang in CONNECTING (SYN lost, proxy): give up on it like on a dead one.
    this.#connectTimer = setTimeout(() => {
      if (ws === this.#ws && !this.#welcomed) this.#drop(CLOSE_DEAD, 'connect timeout');
    }, this.#opts.connectTimeout);
  }

  #welcomed = false;

  /** The token for the next attempt: the cached one while it is fresh, else a new `getToken()`. */
  async #currentToken() {
    if (this.#token !== undefined) {
      const exp = tokenExpiry(this.#token);
      // Reusing the token spares the platform's backend a request from every viewer when
      // a node restarts; a token about to expire would only buy a 4001 a moment later.
      if (this.#token === null || exp === null || exp - Date.now() > 10000) return this.#token;
    }
    const t = await this.#getToken();
    if (t !== null && t !== undefined && typeof t !== 'string') throw new TypeError('getToken must return a string or null');
    this.#token = t || null;
    return this.#token;
  }

  async #pickUrl() {
    const u = this.#url;
    if (typeof u === 'function') return String(await u({ attempt: this.#failures }));
    if (Array.isArray(u)) {
      if (u.length === 0) throw new TypeError('url list is empty');
      // Every new attempt moves to the next URL: after a drop, the node we were on is
      // the one most likely to be gone (killed, draining, unreachable).
      this.#urlIndex = (this.#urlIndex + 1) % u.length;
      return u[this.#urlIndex];
    }
    return u;
  }

  /**
   * A socket ended (or never got going). Decide whether and when to try again.
   * @param {number} code
   * @param {string} reason
   * @param {{immediate?: boolean}} how
   */
  #afterClose(code, reason, how) {
    const wasWelcomed = this.#welcomed;
    this.#welcomed = false;
    this.#stopConnectionTimers();
    this.#failAll(new RoomcastError('disconnected', `connection closed (${code}${reason ? ' ' + reason : ''})`));
    for (const room of this.#rooms.values()) room._onDisconnected();
    if (!this.#wanted) return;

    const lived = wasWelcomed ? Date.now() - this.#connectedAt : 0;
    if (lived >= STABLE_MS) this.#failures = 0;

    // Refused before the upgrade: 401 is a bad token. Fetch a new one; stop after a few.
    if (!wasWelcomed) {
      this.#token = undefined;
      if (this.#upgradeStatus === 401) {
        this.#unauthorized++;
        if (this.#unauthorized >= this.#opts.maxUnauthorized) {
          const err = new RoomcastError('unauthorized', `the server refused the token ${this.#unauthorized} times`);
          this.emit('error', err);
          return this.#terminate(401, 'unauthorized', err);
        }
        code = 401;
        reason = 'unauthorized';
      } else if (this.#upgradeStatus) {
        code = this.#upgradeStatus;
        reason = 'upgrade refused';
      }
    }
    // The server ended us for sending garbage: coming back would do it again.
    if (code === 1008 && /bad frame/i.test(reason)) {
      return this.#terminate(code, reason, new RoomcastError('bad_request', reason));
    }

    let delay;
    if (code === 4001) {
      // Token expired: a fresh token and straight back.
      this.#token = undefined;
      delay = 0;
    } else if (how.immediate) {
      delay = 0;
    } else if (this.#reconnectAt !== null) {
      // The draining node chose our moment (it spreads its clients): obey it.
      delay = Math.max(0, this.#reconnectAt - Date.now());
    } else {
      delay = backoffDelay(this.#failures, this.#opts.minReconnectDelay, this.#opts.maxReconnectDelay);
      this.#failures++;
    }
    this.#reconnectAt = null;
    this.#setState('disconnected', code, reason);
    this.#log.info(`roomcast: disconnected (${code} ${reason}), reconnecting in ${delay} ms`);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#wanted) this.#open();
    }, delay);
  }

  /**
   * Stop for good (until `connect()`).
   * @param {number} code
   * @param {string} reason
   * @param {RoomcastError} err
   */
  #terminate(code, reason, err) {
    this.#wanted = false;
    this.#listenOnline(false);
    this.#rejectOffline(err);
    this.#setState('closed', code, reason, err);
  }

  /**
   * Give up on the live socket now (without waiting for a close handshake that a
   * dead network never completes) and go through the usual reconnect decision.
   * @param {number} code
   * @param {string} reason
   */
  #drop(code, reason) {
    if (!this.#ws) return;
    this.#teardown(code, reason);
    this.#afterClose(code, reason, {});
  }

  /**
   * Detach and close the live socket.
   * @param {number} code
   * @param {string} reason
   */
  #teardown(code, reason) {
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    this.#detach(ws);
    try {
      // Browsers accept only 1000 and 3000–4999 from a client; the code we report
      // (e.g. 1012 after a `reconnect` frame) may be another.
      const ok = code === 1000 || (code >= 3000 && code <= 4999);
      ws.close(ok ? code : 1000, reason);
    } catch {
      // Already closing, or a code the implementation refuses: the socket is dropped anyway.
    }
  }

  /** @param {any} ws */
  #detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.onopen = null;
    // Not null: `ws` throws on an 'error' event nobody listens to (e.g. close() while CONNECTING).
    ws.onerror = () => {};
  }

  /** @param {boolean} on */
  #listenOnline(on) {
    const g = /** @type {any} */ (globalThis);
    if (typeof g.addEventListener !== 'function') return;
    if (on && !this.#onlineListener) {
      // The browser says the network is back: no point waiting out the backoff.
      this.#onlineListener = () => {
        if (this.#state === 'disconnected' && this.#wanted) this.#open();
      };
      g.addEventListener('online', this.#onlineListener);
    } else if (!on && this.#onlineListener) {
      g.removeEventListener('online', this.#onlineListener);
      this.#onlineListener = null;
    }
  }

  /**
   * @param {'closed' | 'connecting' | 'connected' | 'disconnected'} state
   * @param {number | null} code
   * @param {string} reason
   * @param {RoomcastError} [error]
   */
  #setState(state, code, reason, error) {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    /** @type {any} */
    const ev = { state, previous, code, reason };
    if (error) ev.error = error;
    this.emit('state', ev);
  }

  /** @param {'reconnect'} which */
  #clearTimer(which) {
    if (which === 'reconnect' && this.#reconnectTimer) {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
    }
  }

  #stopConnectionTimers() {
    for (const t of [this.#connectTimer, this.#heartbeatTimer, this.#refreshTimer, this.#graceTimer]) {
      if (t) clearTimeout(t);
    }
    this.#connectTimer = this.#heartbeatTimer = this.#refreshTimer = this.#graceTimer = null;
  }

  // ---------------------------------------------------------------------------
  // Frames in

  /** @param {unknown} data */
  #onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      this.#log.warn('roomcast: a frame that is not JSON', data);
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') return;
    this.emit('frame', frame);

    // Replies to our requests.
    if (typeof frame.ref === 'string' && this.#pending.has(frame.ref)) {
      const entry = this.#pending.get(frame.ref);
      if (frame.type === 'error') {
        this.#settle(frame.ref);
        entry?.reject(RoomcastError.fromFrame(frame));
        if (frame.code === 'token_expired') this.#token = undefined;
        return;
      }
      if (!entry?.expect.length || entry.expect.includes(frame.type)) {
        this.#settle(frame.ref);
        entry?.resolve(entry.map(frame));
        if (frame.type === 'ack' || frame.type === 'held' || frame.type === 'pong') return;
        // `history` also carries a room, but it is a reply only: nothing for the room to do.
        if (frame.type === 'history') return;
      }
    }

    switch (frame.type) {
      case 'welcome':
        return this.#onWelcome(frame);
      case 'reconnect': {
        const after = Math.max(0, Number(frame.after_ms) || 0);
        this.#reconnectAt = Date.now() + after;
        this.emit('reconnect', frame);
        // The server closes right after this frame; if it does not, we do.
        const ws = this.#ws;
        this.#graceTimer = setTimeout(() => {
          if (ws === this.#ws) this.#drop(1012, 'server asked to reconnect');
        }, Math.min(after, RECONNECT_FRAME_GRACE_MS));
        return;
      }
      case 'notify':
        return void this.emit('notify', frame);
      case 'pong':
      case 'ack':
      case 'held':
        // A reply to a request we no longer wait for (timed out): nothing to do.
        return;
      case 'error': {
        if (frame.code === 'token_expired') this.#token = undefined;
        const room = typeof frame.room === 'string' ? this.#rooms.get(frame.room) : undefined;
        if (room) return room._handle(frame);
        return void this.emit('error', RoomcastError.fromFrame(frame));
      }
      default: {
        const room = typeof frame.room === 'string' ? this.#rooms.get(frame.room) : undefined;
        if (room) room._handle(frame);
        else this.#log.debug('roomcast: unhandled frame', frame.type);
      }
    }
  }

  /** @param {any} frame */
  #onWelcome(frame) {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#welcomed = true;
    this.#connectedAt = Date.now();
    this.#unauthorized = 0;
    this.user = frame.user ?? null;
    this.node = frame.node ?? null;
    this.heartbeatMs = typeof frame.heartbeat_ms === 'number' ? frame.heartbeat_ms : null;
    this.expiresAt = typeof frame.expires_at === 'number' ? frame.expires_at : null;
    if (this.user?.anonymous && typeof this.user.id === 'string') this.#anonId = this.user.id;

    this.#setState('connected', null, '');
    this.emit('welcome', frame);
    this.#scheduleHeartbeat();
    this.#scheduleRefresh();
    for (const room of this.#rooms.values()) room._onConnected();
  }

  // ---------------------------------------------------------------------------
  // Heartbeat: the server pings us (answered by the WebSocket itself), but a
  // connection can die without a close (NAT timeout, sleeping laptop). Our own
  // pings find that out within heartbeat + pongTimeout.

  #scheduleHeartbeat() {
    const every = this.heartbeatMs;
    if (!every || every <= 0) return;
    const ws = this.#ws;
    this.#heartbeatTimer = setTimeout(() => {
      if (ws !== this.#ws || this.#state !== 'connected') return;
      this.#request({ type: 'ping' }, { expect: ['pong'], timeout: this.#opts.pongTimeout }).then(
        () => {
          if (ws === this.#ws) this.#scheduleHeartbeat();
        },
        (err) => {
          if (ws === this.#ws && err.code === 'timeout') this.#drop(CLOSE_DEAD, 'heartbeat timeout');
        },
      );
    }, every);
  }

  // ---------------------------------------------------------------------------
  // Token refresh (§6): replace the token in place before `expires_at`, so the
  // connection (and its rooms) survive the token's lifetime.

  #scheduleRefresh() {
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    if (this.expiresAt === null) return;
    const left = this.expiresAt - Date.now();
    // 10 % of the remaining lifetime, at most 60 s, at least 5 s (or half of what is left).
    const lead = Math.min(60000, Math.max(left * 0.1, Math.min(5000, left / 2)));
    this.#refreshAfter(Math.max(0, left - lead));
  }

  /** @param {number} ms */
  #refreshAfter(ms) {
    const ws = this.#ws;
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      if (ws === this.#ws) this.#refresh(ws);
    }, ms);
  }

  /** @param {any} ws */
  async #refresh(ws) {
    const expiresAt = this.expiresAt;
    if (expiresAt === null) return;
    // Retry soon when this one fails, but never past the expiry: there the server closes
    // with 4001 and we reconnect with a fresh token anyway.
    const retry = () => {
      const left = expiresAt - Date.now();
      if (left > 1000 && ws === this.#ws) this.#refreshAfter(Math.min(5000, left / 2));
    };
    let token;
    try {
      token = await this.#getToken();
    } catch (err) {
      this.#log.warn('roomcast: getToken failed during refresh', err);
      return retry();
    }
    if (ws !== this.#ws) return;
    if (typeof token !== 'string' || !token) {
      this.#log.warn('roomcast: getToken returned no token to refresh with');
      return retry();
    }
    const exp = tokenExpiry(token);
    if (token === this.#token || (exp !== null && exp <= expiresAt)) {
      // Refreshing with a token that expires no later changes nothing.
      this.#log.warn('roomcast: getToken returned a token that is not newer');
      return retry();
    }
    try {
      const ack = /** @type {any} */ (await this.#request({ type: 'refresh', token }, { expect: ['ack'] }));
      if (ws !== this.#ws) return;
      this.#token = token;
      // An expiry we cannot read (not a JWT exp) is not scheduled: rescheduling on the
      // old one would refresh in a loop. The server's 4001 then ends that connection.
      this.expiresAt = typeof ack?.expires_at === 'number' ? ack.expires_at : exp;
      this.emit('refresh', { expiresAt: this.expiresAt });
      this.#scheduleRefresh();
    } catch (err) {
      if (ws !== this.#ws) return;
      this.#log.warn('roomcast: token refresh refused', err);
      this.emit('error', wrap(err, 'token refresh refused'));
      retry();
    }
  }

  // ---------------------------------------------------------------------------
  // Frames out, requests by ref

  #nextRef() {
    return `c${++this.#refSeq}`;
  }

  /**
   * Send a frame now if connected. Returns false when it could not be sent.
   * @param {object} frame
   */
  #send(frame) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN || !this.#welcomed) return false;
    const text = JSON.stringify(frame);
    // Over the server's frame limit it closes the connection (1009): refuse here instead.
    if (byteLength(text) > this.#opts.maxFrameBytes) {
      throw new RoomcastError('too_large', `frame of ${byteLength(text)} bytes exceeds ${this.#opts.maxFrameBytes}`);
    }
    ws.send(text);
    return true;
  }

  /**
   * Send a frame with a fresh `ref` and wait for the reply carrying it.
   * @param {Record<string, any>} frame
   * @param {{expect?: string[], map?: Function, timeout?: number}} [o]
   * @returns {Promise<any>}
   */
  #request(frame, o = {}) {
    return new Promise((resolve, reject) => {
      if (this.#state !== 'connected') {
        return reject(new RoomcastError('disconnected', 'not connected'));
      }
      const ref = this.#nextRef();
      const full = { ...frame, ref };
      this.#register(ref, { resolve, reject, expect: o.expect ?? ['ack'], map: o.map, timeout: o.timeout });
      try {
        if (!this.#send(full)) throw new RoomcastError('disconnected', 'not connected');
      } catch (err) {
        this.#settle(ref);
        reject(err);
      }
    });
  }

  /**
   * @param {string} ref
   * @param {{resolve: Function, reject: Function, expect?: string[], map?: Function, timeout?: number}} e
   */
  #register(ref, e) {
    const timeout = e.timeout ?? this.#opts.requestTimeout;
    const timer = setTimeout(() => {
      if (this.#pending.get(ref) !== entry) return;
      this.#pending.delete(ref);
      e.reject(new RoomcastError('timeout', `no reply within ${timeout} ms`, { ref }));
    }, timeout);
    const entry = {
      resolve: e.resolve,
      reject: e.reject,
      timer,
      expect: e.expect ?? [],
      map: e.map ?? ((/** @type {any} */ f) => f),
    };
    this.#pending.set(ref, entry);
  }

  /** @param {string} ref */
  #settle(ref) {
    const e = this.#pending.get(ref);
    if (e) {
      clearTimeout(e.timer);
      this.#pending.delete(ref);
    }
  }

  /** @param {RoomcastError} err */
  #failAll(err) {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const e of all) {
      clearTimeout(e.timer);
      e.reject(err);
    }
  }

  // ---------------------------------------------------------------------------
  // Offline buffer: chat messages sent while the connection (or the room's re-join)
  // is not there wait here, in order, and go out right after the room is joined again.
  // A message already on the wire when the connection dropped is NOT re-sent (it
  // rejects with `disconnected`): the server may have accepted it, and the protocol
  // has no idempotency key, so a retry could post it twice.

  /**
   * @param {Room} room
   * @param {string} text
   * @returns {Promise<any>}
   */
  #enqueue(room, text) {
    return new Promise((resolve, reject) => {
      const max = this.#opts.offlineQueueSize;
      if (max <= 0 || !this.#wanted) {
        // Connected but the room's join is still on its way: say so, not "disconnected".
        if (this.#state === 'connected') {
          return reject(new RoomcastError('not_joined', `room ${room.id} is not joined yet`, { room: room.id }));
        }
        return reject(new RoomcastError('disconnected', 'not connected', { room: room.id }));
      }
      if (this.#offline.length >= max) {
        return reject(new RoomcastError('buffer_full', `offline buffer is full (${max} messages)`, { room: room.id }));
      }
      const entry = {
        room,
        text,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.#offline.indexOf(entry);
          if (i >= 0) this.#offline.splice(i, 1);
          reject(new RoomcastError('timeout', `not sent within ${this.#opts.offlineTimeout} ms (offline)`, { room: room.id }));
        }, this.#opts.offlineTimeout),
      };
      this.#offline.push(entry);
    });
  }

  /** @param {Room} room */
  #flush(room) {
    const mine = this.#offline.filter((e) => e.room === room);
    if (mine.length === 0) return;
    this.#offline = this.#offline.filter((e) => e.room !== room);
    for (const e of mine) {
      clearTimeout(e.timer);
      room._sendNow(e.text).then(/** @type {any} */ (e.resolve), /** @type {any} */ (e.reject));
    }
  }

  /**
   * @param {Room} room
   * @param {RoomcastError} err
   */
  #dropQueued(room, err) {
    const mine = this.#offline.filter((e) => e.room === room);
    this.#offline = this.#offline.filter((e) => e.room !== room);
    for (const e of mine) {
      clearTimeout(e.timer);
      e.reject(err);
    }
  }

  /** @param {RoomcastError} err */
  #rejectOffline(err) {
    const all = this.#offline;
    this.#offline = [];
    for (const e of all) {
      clearTimeout(e.timer);
      e.reject(err);
    }
  }
}

/**
 * @param {unknown} err
 * @param {string} message
 */
function wrap(err, message) {
  if (err instanceof RoomcastError) return err;
  return new RoomcastError('internal', `${message}: ${/** @type {any} */ (err)?.message ?? err}`, { cause: err });
}
