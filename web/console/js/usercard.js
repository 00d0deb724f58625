// The user card (§7): `GET /api/rooms/{room}/users/{user}` — the user's last
// messages in the room, the log entries about them, and their state (banned,
// timed out, shadow-banned, warned) — with the actions on them. A server
// without the route (404) gets a card made of what the console knows: the
// messages it saw and the moderation log's entries about the user.

import { request, seg } from './api.js';
import { $, clock, h, show, text, when } from './dom.js';
import { entry } from './modlog.js';
import { isUnsupported, refusal } from './words.js';

export class UserCard {
  /**
   * @param {{session: any, room: string, me: string, actions: import('./actions.js').ModActions,
   *   seen: (user: string) => any[]}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.dialog = /** @type {HTMLDialogElement} */ ($('card'));
    /** @type {{user: string, name: string} | null} */
    this.who = null;
    /** @type {Element | null} */
    this.opener = null;
    this.available = true;
    this.onClose = () => {
      this.who = null;
      if (this.opener instanceof HTMLElement && this.opener.isConnected) this.opener.focus();
    };
    this.onCloseBtn = () => this.dialog.close();
    this.dialog.addEventListener('close', this.onClose);
    $('card-close').addEventListener('click', this.onCloseBtn);
  }

  /** Open the card of a user. @param {string} user @param {string} [name] */
  async open(user, name) {
    this.who = { user, name: name || user };
    this.opener = document.activeElement;
    text($('card-title'), name && name !== user ? `${name} (${user})` : user);
    text($('card-state'), 'Loading…');
    $('card-messages').replaceChildren();
    $('card-log').replaceChildren();
    this.#actions();
    if (!this.dialog.open) this.dialog.showModal();
    $('card-close').focus();
    await this.load();
  }

  /** (Re)load the open card. */
  async load() {
    const who = this.who;
    if (!who) return;
    let card = null;
    let note = '';
    if (this.available) {
      try {
        card = await request(this.ctx.session, 'GET', `/api/rooms/${seg(this.ctx.room)}/users/${seg(who.user)}`);
      } catch (err) {
        if (isUnsupported(err)) this.available = false;
        else note = `The user card could not be loaded: ${refusal(err)}`;
      }
    }
    if (!card) {
      card = await this.#fallback(who.user);
      if (!this.available) note = 'This server has no user card: showing the messages this console saw and the moderation log’s entries about this user.';
    }
    if (this.who !== who) return; // another card was opened meanwhile
    text($('card-state'), stateLine(card.state));
    text($('card-note'), note);
    show($('card-note'), !!note);
    const msgs = (Array.isArray(card.messages) ? card.messages : []).slice(-50);
    $('card-messages').replaceChildren(
      ...(msgs.length
        ? msgs.map((m) => h('li', {}, h('time', {}, clock(m.ts)), ' ', h('span', { class: 'msg-text' }, m.text ?? ''),
            m.shadow && h('span', { class: 'flag' }, 'shadow')))
        : [h('li', { class: 'muted' }, 'No messages.')]));
    const log = Array.isArray(card.actions) ? card.actions : [];
    $('card-log').replaceChildren(...(log.length ? log.map((a) => entry(a)) : [h('li', { class: 'muted' }, 'Nothing.')]));
  }

  destroy() {
    this.who = null; // a load still on its way is dropped
    if (this.dialog.open) this.dialog.close();
    this.dialog.removeEventListener('close', this.onClose);
    $('card-close').removeEventListener('click', this.onCloseBtn);
  }

  /** The action buttons for the open user. */
  #actions() {
    const who = /** @type {{user: string, name: string}} */ (this.who);
    const a = this.ctx.actions;
    const run = (/** @type {() => Promise<any>} */ fn) => async () => {
      if (await fn()) await this.load();
    };
    const btn = (/** @type {string} */ action, /** @type {string} */ label, /** @type {() => Promise<any>} */ fn, danger = false) =>
      h('button', { type: 'button', class: `btn btn-small${danger ? ' btn-danger' : ''}`, dataset: { action }, onclick: run(fn) }, label);
    const self = who.user === this.ctx.me;
    $('card-actions').replaceChildren(...(self
      ? [h('span', { class: 'muted' }, 'This is you.')]
      : [
          btn('timeout', 'Timeout', () => a.timeout(who.user, who.name)),
          btn('ban', 'Ban', () => a.ban(who.user, who.name), true),
          btn('unban', 'Unban', () => a.unban(who.user, who.name)),
          btn('shadow_ban', 'Shadow-ban', () => a.shadowBan(who.user, who.name), true),
          btn('warn', 'Warn', () => a.warn(who.user, who.name)),
          btn('purge', 'Purge messages', () => a.purge(who.user, who.name), true),
        ]));
  }

  /** A card from what the console knows. @param {string} user */
  async #fallback(user) {
    let actions = [];
    try {
      const r = await request(this.ctx.session, 'GET', `/api/rooms/${seg(this.ctx.room)}/moderation?limit=500`);
      actions = (r?.actions ?? []).filter((/** @type {any} */ x) => x.user === user);
    } catch {
      // the card shows what it has
    }
    return { user, messages: this.ctx.seen(user), actions, state: stateFromLog(actions) };
  }
}

/** "Banned · timed out until 12:30" from a card's state. @param {any} s */
function stateLine(s) {
  if (!s) return 'State unknown.';
  const parts = [];
  if (s.banned) parts.push('Banned');
  if (typeof s.timed_out_until === 'number' && s.timed_out_until > Date.now()) parts.push(`Timed out until ${when(s.timed_out_until)}`);
  if (s.shadow_banned) parts.push('Shadow-banned');
  if (s.warned) parts.push('Warned (not yet acknowledged)');
  return parts.length ? parts.join(' · ') : 'No restrictions in this room.';
}

/**
 * The state the log implies (newest first): the last ban/unban decides `banned`; a
 * timeout after the last unban gives its end.
 * @param {any[]} log
 */
function stateFromLog(log) {
  const state = { banned: false, timed_out_until: null, shadow_banned: false, warned: false, guessed: true };
  for (const a of log) {
    if (a.action === 'unban') break;
    if (a.action === 'ban') state.banned = true;
    if (a.action === 'shadow_ban') state.shadow_banned = true;
    if (a.action === 'timeout' && state.timed_out_until === null && typeof a.seconds === 'number') {
      state.timed_out_until = a.ts + a.seconds * 1000;
    }
  }
  return state;
}
