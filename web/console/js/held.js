// AutoMod's held queue (§7): messages waiting for a moderator, from
// `GET /api/rooms/{room}/held` and live `held_message` frames, each with
// Approve / Deny. A server without AutoMod answers the route with 404: the
// panel then says so, and comes alive if a `held_message` arrives anyway.

import { request, seg } from './api.js';
import { $, clock, duration, h, show, text } from './dom.js';
import { isUnsupported, refusal } from './words.js';

/** Re-read the queue this often (other moderators decide too), ms. */
const REFRESH_MS = 15_000;

export class HeldPanel {
  /**
   * @param {{session: any, room: string, actions: import('./actions.js').ModActions}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.list = $('held');
    this.note = $('held-note');
    /** @type {Map<string, {message: any, term: string, expires_at?: number, li: HTMLElement}>} */
    this.items = new Map();
    this.available = true;
    this.stopped = false;
    this.timer = setInterval(() => this.load(), REFRESH_MS);
    this.tick = setInterval(() => this.#expire(), 1000);
    this.onClick = (/** @type {MouseEvent} */ ev) => this.#click(ev);
    this.list.addEventListener('click', this.onClick);
    this.list.replaceChildren();
    this.#render();
  }

  /** Load the queue from the REST API. */
  async load() {
    if (!this.available) return;
    try {
      const r = await request(this.ctx.session, 'GET', `/api/rooms/${seg(this.ctx.room)}/held`);
      if (this.stopped) return;
      const fresh = new Set();
      for (const item of r?.held ?? []) {
        if (!item?.message?.id) continue;
        fresh.add(item.message.id);
        this.add({ message: item.message, term: item.term, expires_at: item.expires_at });
      }
      for (const id of [...this.items.keys()]) if (!fresh.has(id)) this.remove(id);
      show(this.note, false);
    } catch (err) {
      if (this.stopped) return;
      if (isUnsupported(err)) {
        this.available = false;
        text(this.note, 'AutoMod’s held queue is not available on this server.');
      } else {
        text(this.note, `The held queue could not be loaded: ${refusal(err)}`);
      }
      show(this.note, true);
    }
  }

  /** A `held_message` frame, or an entry of the REST list. @param {{message: any, term: string, expires_at?: number}} item */
  add(item) {
    const m = item.message;
    if (!m?.id) return;
    if (!this.available) {
      this.available = true; // the server holds messages after all
      show(this.note, false);
    }
    const old = this.items.get(m.id);
    if (old) {
      old.expires_at = item.expires_at ?? old.expires_at;
      return;
    }
    const li = h('li', { class: 'held-item', dataset: { id: m.id, user: m.user } },
      h('div', { class: 'msg-line' },
        h('time', {}, clock(m.ts ?? Date.now())), ' ',
        h('span', { class: 'msg-author' }, m.name ?? m.user), ' ',
        h('span', { class: 'msg-text' }, m.text ?? '')),
      h('div', { class: 'held-meta muted' },
        `matched “${item.term ?? '?'}”`, ' · ', h('span', { class: 'held-expiry' })),
      h('div', { class: 'msg-actions', role: 'group', 'aria-label': `Decide on the message of ${m.name ?? m.user}` },
        h('button', { type: 'button', class: 'btn btn-small btn-ok', dataset: { action: 'approve' } }, 'Approve'),
        h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { action: 'deny' } }, 'Deny')));
    this.items.set(m.id, { ...item, li });
    this.list.append(li);
    this.#render();
  }

  /** A held message was decided (here or by another moderator) or published. @param {string} id */
  remove(id) {
    const item = this.items.get(id);
    if (!item) return;
    item.li.remove();
    this.items.delete(id);
    this.#render();
  }

  destroy() {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.tick);
    this.list.removeEventListener('click', this.onClick);
    this.list.replaceChildren();
  }

  #render() {
    text($('held-count'), this.items.size ? `(${this.items.size})` : '');
    this.#expire();
  }

  /** Count down each item's expiry; drop the expired ones. */
  #expire() {
    const now = Date.now();
    for (const [id, item] of this.items) {
      const span = item.li.querySelector('.held-expiry');
      if (typeof item.expires_at !== 'number') {
        if (span) text(span, 'waiting');
      } else if (item.expires_at <= now) {
        this.remove(id);
      } else if (span) {
        text(span, `dropped in ${duration((item.expires_at - now) / 1000)}`);
      }
    }
  }

  /** @param {MouseEvent} ev */
  async #click(ev) {
    const btn = /** @type {HTMLButtonElement | null} */ (/** @type {HTMLElement} */ (ev.target).closest('button[data-action]'));
    const id = /** @type {HTMLElement | null} */ (btn?.closest('li[data-id]'))?.dataset.id;
    const item = id && this.items.get(id);
    if (!btn || !item) return;
    const m = { id: item.message.id, name: item.message.name ?? item.message.user };
    btn.disabled = true;
    const done = btn.dataset.action === 'approve' ? await this.ctx.actions.approve(m) : await this.ctx.actions.deny(m);
    if (done) this.remove(m.id);
    else btn.disabled = false;
  }
}
