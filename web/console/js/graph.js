// The viewer graph: the room's per-minute analytics of the last 3 hours
// (`GET /api/rooms/{room}/analytics?from=<now-3h>&to=<now>`), drawn with the
// vendored uPlot — average viewers per minute as a line, the minute's maximum
// as a lighter one — plus the live viewer count. The container's
// `data-points` attribute says how many minutes the chart was given.
// The analytics route is the platform's (API key); with a moderator JWT the
// server refuses it, and the panel says so.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { request, seg } from './api.js';
import { $, show, text } from './dom.js';
import { refusal } from './words.js';

const RANGE_MS = 3 * 3600 * 1000;
/** Re-read every 30 s, or every 5 s while there is nothing to draw yet, ms. */
const REFRESH_MS = 30_000;
const REFRESH_EMPTY_MS = 5_000;
const HEIGHT = 200;

export class GraphPanel {
  /** @param {{session: any, room: string}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.box = $('graph');
    this.box.replaceChildren();
    this.box.dataset.points = '0';
    /** @type {uPlot | null} */
    this.chart = null;
    this.timer = 0;
    this.live = null;
    this.summary = '';
    /** @type {[number, number]} the x range, in seconds */
    this.range = [0, 1];
    this.stopped = false;
    this.resize = new ResizeObserver(() => this.chart?.setSize({ width: this.#width(), height: HEIGHT }));
    this.resize.observe(this.box);
    this.onRefresh = () => this.load();
    $('graph-refresh').addEventListener('click', this.onRefresh);
    show($('graph-refresh'), true);
  }

  /** The live viewer count, shown with the summary. @param {number} n */
  setLive(n) {
    this.live = n;
    this.#caption();
  }

  async load() {
    clearTimeout(this.timer);
    const to = Date.now();
    const from = to - RANGE_MS;
    let points = 0;
    try {
      const r = await request(this.ctx.session, 'GET', `/api/rooms/${seg(this.ctx.room)}/analytics?from=${from}&to=${to}`);
      if (this.stopped) return;
      const snaps = (Array.isArray(r?.snapshots) ? r.snapshots : []).filter((s) => typeof s.minute === 'number').sort((a, b) => a.minute - b.minute);
      points = snaps.length;
      this.#draw(snaps, from, to);
      const sum = r?.summary ?? {};
      this.summary = points
        ? `Peak ${sum.peak ?? '–'} · average ${sum.avg ?? '–'} · ${sum.messages ?? 0} messages · ${sum.reactions ?? 0} reactions`
        : 'No analytics for this room in the last 3 hours yet.';
    } catch (err) {
      if (this.stopped) return;
      if (err.status === 401 || err.status === 403) {
        this.summary = 'The viewer graph needs the platform’s API key: this server gives the analytics to the platform only.';
        show($('graph-refresh'), false);
        this.box.hidden = true;
        this.#caption();
        return; // no retry: the answer will not change
      }
      this.summary = `The analytics could not be loaded: ${refusal(err)}`;
    }
    this.#caption();
    this.timer = setTimeout(() => this.load(), points ? REFRESH_MS : REFRESH_EMPTY_MS);
  }

  destroy() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.resize.disconnect();
    $('graph-refresh').removeEventListener('click', this.onRefresh);
    this.chart?.destroy();
    this.chart = null;
    this.box.replaceChildren();
    this.box.hidden = false;
    this.box.dataset.points = '0';
  }

  /** @param {any[]} snaps @param {number} from @param {number} to */
  #draw(snaps, from, to) {
    // uPlot takes columns; time in seconds.
    const data = [snaps.map((s) => s.minute / 1000), snaps.map((s) => s.avg), snaps.map((s) => s.max)];
    this.box.dataset.points = String(snaps.length);
    this.box.hidden = false;
    // The x range is always the whole 3 hours (read at each autoscale); y starts at 0.
    this.range = [from / 1000, to / 1000];
    const scales = {
      x: { time: true, range: () => this.range },
      y: { range: (/** @type {any} */ _u, /** @type {number} */ _min, /** @type {number} */ max) => [0, Math.max(1, Math.ceil((max || 0) * 1.15))] },
    };
    if (this.chart) {
      this.chart.setData(data);
      return;
    }
    this.chart = new uPlot({
      width: this.#width(),
      height: HEIGHT,
      scales,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: 'Time' },
        { label: 'Average viewers', stroke: '#2456c9', width: 2, fill: 'rgba(36,86,201,0.12)', points: { show: snaps.length < 3 } },
        { label: 'Max viewers', stroke: '#9aa9c7', width: 1, dash: [4, 3], points: { show: false } },
      ],
      axes: [{}, { label: 'viewers', size: 48 }],
    }, data, this.box);
  }

  #width() {
    return Math.max(240, Math.floor(this.box.clientWidth || this.box.parentElement?.clientWidth || 320));
  }

  #caption() {
    const now = this.live === null ? '' : ` · now ${this.live} watching`;
    text($('graph-summary'), this.summary + (this.summary && !this.box.hidden ? now : ''));
    this.box.setAttribute('aria-label', `Viewer graph, last 3 hours. ${this.summary}`);
  }
}
