// The live chat of one room: messages as they arrive, each with its actions
// (delete, timeout, ban, shadow-ban, pin; the author's name opens the user
// card). Deleted messages become a line saying so; messages of banned users
// are marked. Text is only ever set as textContent.

import { clock, h, iso, text } from './dom.js';

/** Messages kept on screen; older ones scroll away. */
const MAX_MESSAGES = 300;

export class ChatPanel {
  /**
   * @param {HTMLOListElement} list the <ol> of messages
   * @param {{me: string, actions: import('./actions.js').ModActions, openCard: (user: string, name: string) => void}} ctx
   */
  constructor(list, ctx) {
    this.list = list;
    this.ctx = ctx;
    /** @type {Map<string, {m: any, li: HTMLElement}>} by message id */
    this.byId = new Map();
    this.onClick = (/** @type {MouseEvent} */ ev) => this.#click(ev);
    list.addEventListener('click', this.onClick);
  }

  /** Replace everything with a backlog (oldest first). @param {any[]} messages */
  backlog(messages) {
    this.list.replaceChildren();
    this.byId.clear();
    for (const m of messages) this.add(m, { scroll: false });
    this.list.scrollTop = this.list.scrollHeight;
  }

  /**
   * A message arrives. With chat delay (§7) a moderator first gets an early copy
   * (`delayed`), then the published one with the same id: the row is updated.
   * @param {any} m @param {{scroll?: boolean}} [opts]
   */
  add(m, opts = {}) {
    if (!m || typeof m.id !== 'string') return;
    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
    const known = this.byId.get(m.id);
    const li = this.#row(m);
    if (known) {
      known.li.replaceWith(li);
    } else {
      this.list.append(li);
      while (this.list.children.length > MAX_MESSAGES) this.#drop(/** @type {HTMLElement} */ (this.list.firstElementChild));
    }
    this.byId.set(m.id, { m, li });
    if (opts.scroll !== false && stick) this.list.scrollTop = this.list.scrollHeight;
  }

  /** A message was deleted: its row says so (the text is gone). @param {string} id @param {string} by */
  deleted(id, by) {
    const e = this.byId.get(id);
    if (!e) return;
    const li = h('li', { class: 'msg msg-deleted', dataset: { id, deleted: 'true' } },
      h('time', { datetime: iso(e.m.ts) }, clock(e.m.ts)), ' ',
      h('span', { class: 'msg-tomb' }, `Message of ${e.m.name} deleted by ${by}`));
    e.li.replaceWith(li);
    this.byId.set(id, { m: { ...e.m, deleted: true }, li });
  }

  /** A user was banned (or purged): mark their rows. @param {string} user @param {string} label */
  markUser(user, label) {
    for (const { m, li } of this.byId.values()) {
      if (m.user !== user || m.deleted) continue;
      li.classList.add('msg-removed');
      const flag = li.querySelector('.msg-flag-user') ?? li.querySelector('.msg-line')?.appendChild(h('span', { class: 'flag msg-flag-user' }));
      if (flag) text(flag, label);
    }
  }

  /** The room was cleared (§7): every row is marked. @param {string} by */
  cleared(by) {
    for (const { li } of this.byId.values()) li.classList.add('msg-removed');
    this.list.append(h('li', { class: 'msg msg-note' }, `Chat cleared by ${by}`));
  }

  /** A note in the chat (joined, left, reconnected). @param {string} note */
  note(note) {
    this.list.append(h('li', { class: 'msg msg-note' }, note));
  }

  /** The message with this id, if on screen. @param {string} id */
  get(id) {
    return this.byId.get(id)?.m;
  }

  /** The messages of one user seen in this session (for the user card's fallback). @param {string} user */
  ofUser(user) {
    return [...this.byId.values()].map((e) => e.m).filter((m) => m.user === user && !m.deleted);
  }

  destroy() {
    this.list.removeEventListener('click', this.onClick);
    this.list.replaceChildren();
    this.byId.clear();
  }

  // ---------------------------------------------------------------------------

  /** @param {any} m */
  #row(m) {
    const mine = m.user === this.ctx.me;
    const badges = Array.isArray(m.badges) ? m.badges.filter((b) => typeof b === 'string') : [];
    const btn = (/** @type {string} */ action, /** @type {string} */ label, /** @type {string} */ title) =>
      h('button', { type: 'button', class: 'btn btn-small', dataset: { action }, title }, label);
    return h('li', { class: `msg${m.shadow ? ' msg-shadow' : ''}${m.delayed ? ' msg-delayed' : ''}`, dataset: { id: m.id, user: m.user } },
      h('div', { class: 'msg-line' },
        h('time', { datetime: iso(m.ts) }, clock(m.ts)), ' ',
        h('button', { type: 'button', class: 'msg-name', dataset: { action: 'card' }, title: `User card of ${m.user}` }, m.name ?? m.user),
        badges.map((b) => h('span', { class: 'badge' }, b)), ' ',
        h('span', { class: 'msg-text' }, m.text ?? ''),
        m.shadow && h('span', { class: 'flag' }, 'shadow-banned: only mods see this'),
        m.delayed && h('span', { class: 'flag' }, 'delayed'),
      ),
      h('div', { class: 'msg-actions', role: 'group', 'aria-label': `Actions on the message of ${m.name ?? m.user}` },
        btn('delete', 'Delete', 'Delete this message'),
        !mine && btn('timeout', 'Timeout', `Time out ${m.user}`),
        !mine && btn('ban', 'Ban', `Ban ${m.user}`),
        !mine && btn('shadow_ban', 'Shadow-ban', `Shadow-ban ${m.user}`),
        !m.delayed && btn('pin', 'Pin', 'Pin this message'),
      ));
  }

  /** @param {HTMLElement} li */
  #drop(li) {
    if (li.dataset.id) this.byId.delete(li.dataset.id);
    li.remove();
  }

  /** One listener for every button in the list. @param {MouseEvent} ev */
  #click(ev) {
    const btn = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (ev.target).closest('button[data-action]'));
    const li = btn?.closest('li[data-id]');
    const entry = li && this.byId.get(/** @type {HTMLElement} */ (li).dataset.id ?? '');
    if (!btn || !entry) return;
    const { m } = entry;
    const a = this.ctx.actions;
    switch (btn.dataset.action) {
      case 'card': return this.ctx.openCard(m.user, m.name);
      case 'delete': return void a.delete(m);
      case 'timeout': return void a.timeout(m.user, m.name);
      case 'ban': return void a.ban(m.user, m.name);
      case 'shadow_ban': return void a.shadowBan(m.user, m.name);
      case 'pin': return void a.pin(m);
    }
  }
}
