// A scripted stand-in for roomcast, speaking the wire contract (v2) on loopback.
// It lets protocol.test.js check what the client does in situations a real server
// produces rarely or not yet (seq gaps, recovery answers, token expiry, odd closes).

import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { collect } from './helpers.js';
import { Emitter } from '../src/index.js';

let ids = 0;
/** A fake, time-sortable 26-character id. */
export function fakeId() {
  return `01J${String(Date.now()).padStart(13, '0')}${String(++ids).padStart(10, '0')}`.slice(0, 26);
}

export class MockConn extends Emitter {
  /** @param {import('ws').WebSocket} ws @param {URL} url */
  constructor(ws, url) {
    super();
    this.ws = ws;
    this.url = url;
    this.frames = collect(this, 'frame');
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    ws.on('message', (data) => {
      let f;
      try {
        f = JSON.parse(String(data));
      } catch {
        return;
      }
      this.emit('frame', f);
    });
  }

  /** @param {object} frame */
  send(frame) {
    if (this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  close(code = 1000, reason = '') {
    this.ws.close(code, reason);
  }

  /** Kill the TCP connection without a close frame (like a dead node). */
  terminate() {
    this.ws.terminate();
  }

  /** The first frame (past or future) matching `pred`. */
  next(pred, ms = 5000) {
    return this.frames.until(pred, ms);
  }
}

/**
 * @typedef {object} MockOptions
 * @property {(conn: MockConn) => object | null} [welcome] the welcome frame (null: send none)
 * @property {(conn: MockConn, frame: any) => boolean | void} [handle] answer a frame; return true when handled
 */

export class MockServer extends Emitter {
  /** @param {MockOptions} [o] */
  constructor(o = {}) {
    super();
    this.options = o;
    /** HTTP status to refuse upgrades with (null: accept). */
    this.refuse = /** @type {number | null} */ (null);
    this.upgrades = 0;
    this.conns = collect(this, 'connection');
    this.http = createServer((_, res) => res.writeHead(404).end());
    this.wss = new WebSocketServer({ noServer: true });
    this.http.on('upgrade', (req, socket, head) => {
      this.upgrades++;
      this.emit('upgrade', req);
      if (this.refuse) {
        const body = JSON.stringify({ error: { code: this.refuse === 401 ? 'unauthorized' : 'unavailable', message: 'refused' } });
        socket.end(
          `HTTP/1.1 ${this.refuse} Refused\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const conn = new MockConn(ws, new URL(req.url ?? '/', 'http://x'));
        conn.on('frame', (f) => this.#answer(conn, f));
        const welcome = (this.options.welcome ?? defaultWelcome)(conn);
        if (welcome) conn.send(welcome);
        this.emit('connection', conn);
      });
    });
  }

  async listen() {
    await new Promise((r) => this.http.listen(0, '127.0.0.1', r));
    const { port } = /** @type {any} */ (this.http.address());
    this.url = `ws://127.0.0.1:${port}/ws`;
    return this;
  }

  /** The n-th connection (0-based), waiting for it. */
  connection(n, ms = 5000) {
    return this.conns.until(() => this.conns.length > n, ms).then(() => this.conns[n]);
  }

  async close() {
    for (const c of this.conns) c.terminate();
    this.wss.close();
    await new Promise((r) => this.http.close(r));
  }

  /** @param {MockConn} conn @param {any} f */
  #answer(conn, f) {
    if (this.options.handle?.(conn, f)) return;
    switch (f.type) {
      case 'join':
        return conn.send({ type: 'joined', room: f.room, viewers: 1, slow_mode: 0, recent: [] });
      case 'leave':
        return conn.send({ type: 'left', room: f.room, reason: 'leave' });
      case 'message': {
        const id = fakeId();
        conn.send({ type: 'ack', ref: f.ref, id });
        return conn.send({ type: 'message', room: f.room, id, user: 'u', name: 'u', text: f.text, ts: Date.now(), badges: [] });
      }
      case 'ping':
        return conn.send({ type: 'pong', ref: f.ref, ts: Date.now() });
      case 'history':
        return conn.send({ type: 'history', ref: f.ref, room: f.room, messages: [] });
      case 'refresh':
        return conn.send({ type: 'ack', ref: f.ref, id: fakeId() });
      default:
        if (f.ref) conn.send({ type: 'ack', ref: f.ref, id: fakeId() });
    }
  }
}

/** @param {MockConn} conn */
function defaultWelcome(conn) {
  const anon = conn.url.searchParams.get('anon');
  const token = conn.url.searchParams.get('token');
  const user = token
    ? { id: 'u1', name: 'U1', anonymous: false, mod: [] }
    : { id: anon ?? `anon-${fakeId()}.mac12345`, name: 'anon', anonymous: true, mod: [] };
  return { type: 'welcome', user, node: 'mock', heartbeat_ms: 30000 };
}

/** A message frame. */
export function msg(room, extra = {}) {
  const id = fakeId();
  return { type: 'message', room, id, user: 'u2', name: 'U2', text: `text ${id}`, ts: Date.now(), badges: [], ...extra };
}
