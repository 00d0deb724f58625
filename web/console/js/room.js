// One room, opened: joins it through the console's live connection and wires
// the room's frames to the panels — chat, held queue, settings, stats, viewer
// graph, moderation log, user card. Closing it removes every listener and
// timer, and leaves the room unless the rooms list keeps it joined.

import { ModActions } from './actions.js';
import { ChatPanel } from './chat.js';
import { $, h, show, text } from './dom.js';
import { act, toast } from './feedback.js';
import { GraphPanel } from './graph.js';
import { HeldPanel } from './held.js';
import { LogPanel } from './modlog.js';
import { SettingsPanel } from './settings.js';
import { StatsPanel } from './stats.js';
import { UserCard } from './usercard.js';
import { refusal } from './words.js';

export class RoomView {
  /**
   * @param {{session: import('./session.js').Session, client: any, roomId: string, keepJoined: boolean}} ctx
   *   keepJoined: the rooms list uses this room's membership (moderator JWT), do not leave it
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.roomId = ctx.roomId;
    this.room = ctx.client.room(ctx.roomId);
    this.me = ctx.client.user?.id ?? '';
    this.section = $('room-view');
    /** @type {Array<[string, Function]>} room listeners, removed on close */
    this.listeners = [];
    this.closed = false;

    this.actions = new ModActions(this.room, {
      unsupported: (action) => this.#unsupported(action),
      done: () => this.log.soon(), // every acked action is in the log
    });
    const base = { session: ctx.session, room: ctx.roomId };
    this.chat = new ChatPanel(/** @type {HTMLOListElement} */ ($('chat')), {
      me: this.me, actions: this.actions, openCard: (u, n) => this.card.open(u, n),
    });
    this.held = new HeldPanel({ ...base, actions: this.actions });
    this.settings = new SettingsPanel({ actions: this.actions });
    this.stats = new StatsPanel(base);
    this.graph = new GraphPanel(base);
    this.log = new LogPanel({ ...base, openCard: (u, n) => this.card.open(u, n) });
    this.card = new UserCard({ ...base, me: this.me, actions: this.actions, seen: (u) => this.chat.ofUser(u) });
    this.onSubmit = (/** @type {SubmitEvent} */ ev) => this.#send(ev);
    this.onUnpin = () => this.actions.unpin();
    $('composer').addEventListener('submit', this.onSubmit);
    $('unpin').addEventListener('click', this.onUnpin);
  }

  /** Show the room and join it. */
  async open() {
    text($('room-title'), this.roomId);
    document.title = `${this.roomId} · roomcast console`;
    this.section.dataset.room = this.roomId;
    for (const el of [this.section, $('card')]) {
      delete el.dataset.v2;
      for (const k of [...el.classList]) if (k.startsWith('no-')) el.classList.remove(k);
    }
    text($('room-viewers'), this.room.viewers ?? '–');
    show($('room-caps'), false);
    const s = this.ctx.session;
    show($('room-notmod'), s.mode === 'jwt' && !s.all && !s.modRooms.includes(this.roomId));
    this.#pinned(null);
    this.#status('joining');

    this.#on('joined', (e) => this.#joined(e));
    this.#on('message', (m) => {
      this.chat.add(m);
      this.stats.message();
      if (m.id) this.held.remove(m.id); // a held message approved (maybe by another moderator)
    });
    this.#on('deleted', (f) => {
      this.chat.deleted(f.id, f.by);
      this.log.soon();
    });
    this.#on('moderation', (f) => {
      if (f.action === 'ban') this.chat.markUser(f.user, 'banned');
      if (f.action === 'shadow_ban') this.chat.markUser(f.user, 'shadow-banned');
      this.log.soon();
      if (this.card.who?.user === f.user) this.card.load();
    });
    this.#on('slow_mode', (f) => {
      this.settings.apply({ slow_mode: f.seconds });
      this.log.soon();
    });
    this.#on('settings', (f) => {
      this.#v2(true);
      this.settings.apply(f.settings ?? {});
      this.log.soon();
    });
    this.#on('viewers', (f) => this.#viewers(f.count));
    this.#on('reactions', (f) => this.stats.reactions(f.counts));
    this.#on('stats', (f) => this.stats.stats(f));
    this.#on('held_message', (f) => {
      this.held.add(f);
      this.log.soon();
    });
    this.#on('pinned', (f) => {
      this.#pinned(f.message ? f : null);
      this.log.soon();
    });
    this.#on('cleared', (f) => {
      this.chat.cleared(f.by);
      this.log.soon();
    });
    this.#on('left', (f) => {
      this.#status(f.reason === 'banned' ? 'banned' : 'left');
      if (f.reason === 'banned') toast('The console was removed from this room (banned).', 'error');
    });
    this.#on('error', (err) => {
      // Refusals not tied to a request of ours: the join, mostly.
      if (this.room.status === 'left') this.#status('refused');
      toast(`Room ${this.roomId}: ${refusal(err)}`, 'error');
    });
    this.#on('discontinuity', () => this.chat.note('Reconnected: some messages may be missing above.'));

    this.held.load();
    this.log.load();
    this.graph.load();

    if (this.room.joined) {
      // Joined already (the rooms list of a moderator JWT): read the backlog again.
      this.#status('joined');
      this.#viewers(this.room.viewers);
      this.#v2(!!this.room.settings);
      this.settings.apply(this.room.settings ?? { slow_mode: this.room.slowMode });
      this.#pinned(this.room.pinned);
      const recent = await this.room.history({ limit: 50 }).catch(() => []);
      if (!this.closed) this.chat.backlog(recent);
    } else {
      this.room.join().catch(() => {}); // refusals come as `error` events
    }
  }

  /** Leave the room (unless kept) and tear everything down. */
  close() {
    this.closed = true;
    for (const [ev, fn] of this.listeners) this.room.off(ev, fn);
    this.listeners = [];
    if (!this.ctx.keepJoined) this.room.leave().catch(() => {});
    $('composer').removeEventListener('submit', this.onSubmit);
    $('unpin').removeEventListener('click', this.onUnpin);
    for (const p of [this.chat, this.held, this.settings, this.stats, this.graph, this.log, this.card]) p.destroy();
    document.title = 'roomcast console';
  }

  // ---------------------------------------------------------------------------

  /** @param {string} ev @param {(payload: any) => void} fn */
  #on(ev, fn) {
    this.room.on(ev, fn);
    this.listeners.push([ev, fn]);
  }

  /** @param {any} e the `joined` event */
  #joined(e) {
    this.#status('joined');
    this.#viewers(e.viewers);
    this.#v2(!!e.settings);
    this.settings.apply(e.settings ?? { slow_mode: e.slow_mode ?? 0 });
    this.#pinned(e.pinned ?? null);
    if (!e.rejoin) this.chat.backlog(Array.isArray(e.recent) ? e.recent : []);
    else this.chat.note('Reconnected.');
  }

  /** @param {number | null} n */
  #viewers(n) {
    if (typeof n !== 'number') return;
    text($('room-viewers'), n);
    this.stats.setViewers(n);
    this.graph.setLive(n);
  }

  /** Whether the server has §7 moderation (it sends `joined.settings`). @param {boolean} yes */
  #v2(yes) {
    for (const el of [this.section, $('card')]) {
      if (yes) el.dataset.v2 = 'true';
      else delete el.dataset.v2;
    }
    this.settings.supported(yes);
    const caps = $('room-caps');
    text(caps, yes ? '' : 'This server has no §7 moderation yet: shadow ban, pin, warn, purge and the chat modes are hidden.');
    show(caps, !yes);
  }

  /** An action the server does not know: hide its buttons. @param {string} action */
  #unsupported(action) {
    for (const el of [this.section, $('card')]) el.classList.add(`no-${action}`);
  }

  /** @param {string} state */
  #status(state) {
    const pill = $('room-status');
    pill.dataset.state = state;
    text(pill, { joining: 'joining…', joined: 'live', left: 'left', banned: 'removed (banned)', refused: 'join refused' }[state] ?? state);
  }

  /** @param {{message: any, until: number} | null} p */
  #pinned(p) {
    show($('pinned'), !!p);
    if (!p) return;
    text($('pinned-text'), `${p.message.name ?? p.message.user}: ${p.message.text ?? ''}`);
    text($('pinned-until'), `until ${new Date(p.until).toLocaleTimeString()}`);
  }

  /** Send a chat message as the moderator. @param {SubmitEvent} ev */
  async #send(ev) {
    ev.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($('composer-text'));
    const textValue = input.value.trim();
    if (!textValue) return;
    const r = await act('Send', this.room.send(textValue), { silent: true });
    if (r) {
      input.value = '';
      if (r.held) toast('Sent: AutoMod held it for review.', 'info');
    }
    input.focus();
  }
}

/** Rendered in the rooms list: a link to the room. @param {string} room */
export function roomLink(room) {
  return h('a', { href: `#/room/${encodeURIComponent(room)}`, class: 'room-link' }, room);
}
