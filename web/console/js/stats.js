// Live stats (§8): the server sends moderators a `stats` frame every
// `rooms.stats_interval_s` (30 s). Until one comes (or on a server without
// them), the panel shows the live viewer count, the peak from
// `GET /api/rooms/{room}` (API key only) and per-minute rates counted by the
// console itself from the frames it sees.

import { request, seg } from './api.js';
import { $, clock, text } from './dom.js';

const WINDOW_MS = 60_000;
/** Re-read the room's peak this often (API key sign-in), ms. */
const PEAK_MS = 15_000;

export class StatsPanel {
  /** @param {{session: any, room: string}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {any | null} the last `stats` frame */
    this.server = null;
    /** @type {number[]} times of the messages seen */
    this.msgTimes = [];
    /** @type {Array<[number, number]>} [time, count] of the reactions seen */
    this.reactTimes = [];
    this.viewers = null;
    this.peak = null;
    this.stopped = false;
    this.timer = setInterval(() => this.#render(), 5000);
    this.peakTimer = ctx.session.mode === 'key' ? setInterval(() => this.#loadPeak(), PEAK_MS) : 0;
    if (this.peakTimer) this.#loadPeak();
    this.#render();
  }

  /** @param {number} n */
  setViewers(n) {
    this.viewers = n;
    if (this.peak === null || n > this.peak) this.peak = n;
    this.#render();
  }

  /** A chat message was seen. */
  message() {
    this.msgTimes.push(Date.now());
  }

  /** A `reactions` frame. @param {Record<string, number>} counts */
  reactions(counts) {
    const n = Object.values(counts ?? {}).reduce((a, b) => a + (Number(b) || 0), 0);
    this.reactTimes.push([Date.now(), n]);
  }

  /** A `stats` frame (§8). @param {any} f */
  stats(f) {
    this.server = { ...f, at: Date.now() };
    if (typeof f.peak === 'number') this.peak = f.peak;
    this.#render();
  }

  destroy() {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.peakTimer);
  }

  async #loadPeak() {
    try {
      const r = await request(this.ctx.session, 'GET', `/api/rooms/${seg(this.ctx.room)}`);
      if (this.stopped) return;
      if (typeof r?.peak === 'number') this.peak = Math.max(this.peak ?? 0, r.peak);
      this.#render();
    } catch {
      // keep the live figure
    }
  }

  #render() {
    const cut = Date.now() - WINDOW_MS;
    this.msgTimes = this.msgTimes.filter((t) => t > cut);
    this.reactTimes = this.reactTimes.filter(([t]) => t > cut);
    const s = this.server;
    text($('stat-viewers'), this.viewers ?? s?.viewers ?? '–');
    text($('stat-peak'), this.peak ?? '–');
    text($('stat-unique'), s ? s.unique_viewers ?? '–' : '–');
    text($('stat-mpm'), s ? s.messages_per_min : this.msgTimes.length);
    text($('stat-rpm'), s ? s.reactions_per_min : this.reactTimes.reduce((a, [, n]) => a + n, 0));
    text($('stats-note'), s
      ? `From the server’s last stats, at ${clock(s.at)}.`
      : 'Rates counted by this console over the last minute; the server’s live stats (§8) replace them when it sends them.');
  }
}
