// A Node WebSocket peer for tests (viewers and chatters): raw frames in and
// out, every frame received kept, and `waitFor` to wait (bounded) for one.

import WebSocket from 'ws';

export class Peer {
  /** @param {string} wsUrl @param {string | null} [token] null: anonymous viewer */
  static async connect(wsUrl, token = null) {
    const p = new Peer(token ? `${wsUrl}?token=${encodeURIComponent(token)}` : wsUrl);
    await p.waitFor((f) => f.type === 'welcome', 5000, 'welcome');
    return p;
  }

  /** @param {string} url */
  constructor(url) {
    /** @type {any[]} */
    this.frames = [];
    /** @type {Array<{pred: (f: any) => boolean, resolve: (f: any) => void}>} */
    this.waiters = [];
    this.ws = new WebSocket(url);
    this.closed = new Promise((ok) => this.ws.once('close', (code) => ok(code)));
    this.ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      this.frames.push(f);
      for (const w of [...this.waiters]) {
        if (w.pred(f)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    });
    this.ws.on('error', () => {});
    this.n = 0;
  }

  /** @param {Record<string, any>} frame */
  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /**
   * The first frame (already received or still to come) that matches.
   * @param {(f: any) => boolean} pred @param {number} [timeoutMs] @param {string} [what]
   */
  waitFor(pred, timeoutMs = 5000, what = 'a frame') {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (/** @type {any} */ f) => { clearTimeout(t); resolve(f); } };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; got: ${JSON.stringify(this.frames.slice(-8))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Join a room and wait for `joined`. @param {string} room */
  async join(room) {
    this.send({ type: 'join', room });
    return this.waitFor((f) => f.type === 'joined' && f.room === room, 5000, `joined ${room}`);
  }

  /** Send a chat message; resolves with the `ack` (or rejects with the `error`). @param {string} room @param {string} text */
  async say(room, text) {
    const ref = `t${++this.n}`;
    this.send({ type: 'message', room, text, ref });
    const f = await this.waitFor((x) => x.ref === ref && ['ack', 'held', 'error'].includes(x.type), 5000, `reply to ${ref}`);
    if (f.type === 'error') throw Object.assign(new Error(`${f.code}: ${f.message}`), { frame: f });
    return f;
  }

  close() {
    this.ws.close();
  }
}
