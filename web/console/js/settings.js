// Room settings (§7) as controls that apply at once: slow mode (a v1 frame, so
// it works on every server) and the chat modes, sent as the `settings` frame
// (a partial update). The controls show the server's state: they are set from
// `joined.settings` and every `settings`/`slow_mode` frame, and go back to it
// when a change is refused. A server without §7 settings shows slow mode only.

import { $, h, show, text } from './dom.js';

/** The §7 settings besides slow mode, with how each control reads and labels its value. */
const V2 = {
  followers_only: { id: 'set-followers', read: (el) => (el.value === '' ? null : Number(el.value)), label: (v) => (v === null ? 'Followers-only off' : `Followers-only (${v} min)`) },
  subscribers_only: { id: 'set-subs', read: (el) => el.checked, label: (v) => `Subscribers-only ${v ? 'on' : 'off'}` },
  emote_only: { id: 'set-emote', read: (el) => el.checked, label: (v) => `Emote-only ${v ? 'on' : 'off'}` },
  unique_chat: { id: 'set-unique', read: (el) => el.checked, label: (v) => `Unique chat ${v ? 'on' : 'off'}` },
  chat_delay_ms: { id: 'set-delay', read: (el) => Number(el.value), label: (v) => (v ? `Chat delay ${v / 1000} s` : 'Chat delay off') },
  private: { id: 'set-private', read: (el) => el.checked, label: (v) => `Private room ${v ? 'on' : 'off'}` },
};

export class SettingsPanel {
  /** @param {{actions: import('./actions.js').ModActions}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.form = /** @type {HTMLFormElement} */ ($('settings'));
    /** @type {Record<string, any>} the server's settings as last announced */
    this.current = { slow_mode: 0 };
    this.onChange = (/** @type {Event} */ ev) => this.#change(/** @type {HTMLInputElement} */ (ev.target));
    this.form.addEventListener('change', this.onChange);
    this.form.addEventListener('submit', (ev) => ev.preventDefault());
    this.supported(false);
  }

  /**
   * Whether the server has the §7 settings (it sent `joined.settings`).
   * @param {boolean} yes
   */
  supported(yes) {
    for (const el of this.form.querySelectorAll('[data-v2]')) show(/** @type {HTMLElement} */ (el), yes);
    const note = $('settings-note');
    text(note, yes ? '' : 'Chat modes (followers-only, subscribers-only, emote-only, unique chat, chat delay, private) are not available on this server.');
    show(note, !yes);
  }

  /** The server's settings (all of them, or `{slow_mode}`). @param {Record<string, any>} s */
  apply(s) {
    this.current = { ...this.current, ...s };
    const slow = /** @type {HTMLSelectElement} */ ($('set-slow'));
    setSelect(slow, String(this.current.slow_mode ?? 0), (v) => `${v} s`);
    for (const [key, spec] of Object.entries(V2)) {
      const el = /** @type {any} */ ($(spec.id)); // a checkbox or a select
      const v = this.current[key];
      if (el.type === 'checkbox') el.checked = !!v;
      else if (key === 'followers_only') setSelect(el, v === null || v === undefined ? '' : String(v), (x) => `followed ≥ ${x} min`);
      else setSelect(el, String(v ?? 0), (x) => `${Number(x) / 1000} s`);
    }
  }

  destroy() {
    this.form.removeEventListener('change', this.onChange);
  }

  /** A control changed: send it, then show the server's answer. @param {HTMLInputElement} el */
  async #change(el) {
    const key = el.name;
    el.disabled = true;
    let ok;
    if (key === 'slow_mode') {
      ok = await this.ctx.actions.slowMode(Number(el.value));
    } else if (V2[key]) {
      const value = V2[key].read(el);
      ok = await this.ctx.actions.settings({ [key]: value }, V2[key].label(value));
    }
    el.disabled = false;
    // Refused: back to what the server has. Acked: the `settings` frame sets it (already, or soon).
    if (!ok) this.apply({});
    el.focus();
  }
}

/**
 * Select a value, adding an option for a value set elsewhere (the API, another console).
 * @param {HTMLSelectElement} sel @param {string} value @param {(v: string) => string} label
 */
function setSelect(sel, value, label) {
  if (![...sel.options].some((o) => o.value === value)) sel.append(h('option', { value }, label(value)));
  sel.value = value;
}
