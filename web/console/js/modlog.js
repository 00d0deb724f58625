// The moderation log of a room (`GET /api/rooms/{room}/moderation`), newest
// first. Re-read shortly after anything that the log records is announced
// (moderation, deletions, settings), so it follows every moderator's actions.

import { request, seg } from './api.js';
import { $, duration, h, iso, show, text, when } from './dom.js';
import { refusal } from './words.js';

const LIMIT = 50;
/** Wait this long after an announcement before re-reading (actions come in bursts), ms. */
const DEBOUNCE_MS = 400;

/** Words for the log's action names (§7 lists them all). */
const ACTIONS = {
  ban: 'banned', unban: 'unbanned', timeout: 'timed out', delete: 'deleted a message of',
  slow_mode: 'set slow mode', settings: 'changed settings', hold: 'AutoMod held a message of',
  approve: 'approved a message of', deny: 'denied a message of', shadow_ban: 'shadow-banned',
  warn: 'warned', clear: 'cleared the chat', purge: 'purged', pin: 'pinned a message of',
  unpin: 'unpinned', mod_add: 'made a moderator:', mod_remove: 'removed as moderator:',
};

export class LogPanel {
  /** @param {{session: any, room: string, openCard: (user: string, name: string) => void}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.list = $('log');
    this.note = $('log-note');
    /** @type {any[]} the entries last read */
    this.entries = [];
    this.timer = 0;
    this.stopped = false;
    this.onClick = (/** @type {MouseEvent} */ ev) => {
      const btn = /** @type {HTMLElement} */ (ev.target).closest('button[data-user]');
      if (btn instanceof HTMLElement && btn.dataset.user) this.ctx.openCard(btn.dataset.user, btn.dataset.user);
    };
    this.list.addEventListener('click', this.onClick);
    this.list.replaceChildren();
    show(this.note, false);
  }

  /** Re-read soon (debounced). */
  soon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), DEBOUNCE_MS);
  }

  async load() {
    try {
      const r = await request(this.ctx.session, 'GET', `/api/rooms/${seg(this.ctx.room)}/moderation?limit=${LIMIT}`);
      if (this.stopped) return;
      this.entries = Array.isArray(r?.actions) ? r.actions : [];
      this.#render();
      show(this.note, false);
    } catch (err) {
      if (this.stopped) return;
      text(this.note, `The moderation log could not be loaded: ${refusal(err)}`);
      show(this.note, true);
    }
  }

  destroy() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.list.removeEventListener('click', this.onClick);
    this.list.replaceChildren();
  }

  #render() {
    if (!this.entries.length) {
      this.list.replaceChildren(h('li', { class: 'muted' }, 'Nothing yet.'));
      return;
    }
    this.list.replaceChildren(...this.entries.map((a) => entry(a)));
  }
}

/** One log line: "12:04 mia timed out bob (10 min): spam". @param {any} a */
export function entry(a) {
  const details = [];
  if (a.action === 'slow_mode') details.push(a.seconds ? `${a.seconds} s` : 'off');
  else if (typeof a.seconds === 'number') details.push(duration(a.seconds));
  return h('li', { class: 'log-entry', dataset: { action: a.action ?? '' } },
    h('time', { datetime: iso(a.ts) }, when(a.ts)), ' ',
    h('span', { class: 'log-by' }, a.by ?? '?'), ' ',
    h('span', { class: 'log-action' }, ACTIONS[a.action] ?? String(a.action)), ' ',
    a.user && h('button', { type: 'button', class: 'link', dataset: { user: a.user }, title: `User card of ${a.user}` }, a.user),
    details.length > 0 && ` (${details.join(', ')})`,
    a.reason && h('span', { class: 'log-reason' }, `: ${a.reason}`));
}
