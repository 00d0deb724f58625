// The live rooms, most viewers first.
// - API key: `GET /api/rooms?limit=100`, re-read every few seconds.
// - Moderator JWT: the REST list is the platform's, so the rooms are the ones the
//   token's `mod` claim names, joined through the live connection for their
//   viewer counts (which then include this console). A `mod: ["*"]` token can
//   open any room by id.

import { request } from './api.js';
import { $, clock, h, show, text, ROOM_ID } from './dom.js';
import { roomLink } from './room.js';
import { refusal } from './words.js';

const POLL_MS = 5000;
const LIMIT = 100;
/** A connection may be in 10 rooms (§2); one is kept free for opening another room. */
const MAX_JOINED = 9;

export class RoomsView {
  /** @param {{session: import('./session.js').Session, client: any}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.timer = 0;
    this.visible = false;
    /** @type {Map<string, any>} rooms joined for their counts (moderator JWT) */
    this.joined = new Map();
    this.onViewers = () => this.visible && this.#renderClaimed();
    if (ctx.session.mode === 'jwt') this.#joinClaimed();
  }

  /** Whether the rooms list keeps this room joined (so the room view must not leave it). @param {string} id */
  keeps(id) {
    return this.joined.has(id);
  }

  show() {
    this.visible = true;
    const s = this.ctx.session;
    const note = $('rooms-note');
    if (s.mode === 'key') {
      show(note, false);
      this.#poll();
    } else {
      const extra = s.modRooms.length > MAX_JOINED ? ` Only the first ${MAX_JOINED} are followed live; open the others by id.` : '';
      text(note, (s.all
        ? 'Your token moderates every room. The list of all live rooms needs the platform’s API key: open a room by its id below.'
        : 'The rooms your token moderates. Viewer counts include this console, which is in each of them.') + extra);
      show(note, true);
      this.#renderClaimed();
    }
  }

  hide() {
    this.visible = false;
    clearTimeout(this.timer);
  }

  destroy() {
    this.hide();
    for (const room of this.joined.values()) {
      room.off('viewers', this.onViewers);
      room.off('joined', this.onViewers);
    }
    this.joined.clear();
  }

  async #poll() {
    clearTimeout(this.timer);
    try {
      const r = await request(this.ctx.session, 'GET', `/api/rooms?limit=${LIMIT}`);
      if (!this.visible) return;
      this.#render((r?.rooms ?? []).map((x) => ({ room: x.room, viewers: x.viewers })));
      text($('rooms-updated'), `updated ${clock(Date.now())}`);
    } catch (err) {
      text($('rooms-updated'), `could not load the rooms: ${refusal(err)}`);
    }
    if (this.visible) this.timer = setTimeout(() => this.#poll(), POLL_MS);
  }

  #joinClaimed() {
    for (const id of this.ctx.session.modRooms.filter((r) => ROOM_ID.test(r)).slice(0, MAX_JOINED)) {
      const room = this.ctx.client.room(id);
      room.on('viewers', this.onViewers);
      room.on('joined', this.onViewers);
      room.join().catch(() => {});
      this.joined.set(id, room);
    }
  }

  #renderClaimed() {
    const rows = this.ctx.session.modRooms.map((id) => ({ room: id, viewers: this.joined.get(id)?.viewers ?? null }));
    rows.sort((a, b) => (b.viewers ?? -1) - (a.viewers ?? -1) || a.room.localeCompare(b.room));
    this.#render(rows);
    text($('rooms-updated'), 'live');
  }

  /** @param {Array<{room: string, viewers: number | null}>} rows */
  #render(rows) {
    const body = $('rooms-body');
    body.replaceChildren(...rows.map((r) =>
      h('tr', { dataset: { room: r.room } },
        h('td', {}, roomLink(r.room)),
        h('td', { class: 'num viewers' }, r.viewers ?? '–'))));
    show($('rooms-table'), rows.length > 0);
    show($('rooms-empty'), rows.length === 0 && this.ctx.session.mode === 'key');
  }
}
