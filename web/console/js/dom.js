// Small DOM helpers. Everything the console shows that came from the network —
// message text, names, user ids, reasons, room ids — goes through `h()` or
// `text()`, which only ever set `textContent` and attributes, never HTML.

/**
 * Make an element: `h('button', {class: 'btn', onclick: fn}, 'Delete')`.
 * Attributes: `class`, `dataset` (object), `on<event>` (listener), booleans
 * (`hidden`, `disabled`: set when true), everything else via setAttribute.
 * Children: strings (as text nodes), nodes, arrays, null/false (skipped).
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) {
      // Listeners only: an inline handler string would be code (and the CSP refuses it anyway).
      if (typeof v !== 'function') throw new TypeError(`h(): ${k} must be a function`);
      el.addEventListener(k.slice(2), v);
    }
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** @param {Element} el @param {any[]} children */
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** `document.getElementById`, throwing when the page lacks the element. */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`console: #${id} missing from index.html`);
  return el;
}

/** Set an element's text (never HTML). */
export function text(el, value) {
  el.textContent = value === null || value === undefined ? '' : String(value);
}

/** Remove every child. */
export function clear(el) {
  el.replaceChildren();
}

/** Show or hide an element. */
export function show(el, visible = true) {
  el.hidden = !visible;
}

/** An epoch-ms time as an ISO string for <time datetime>, '' when it is not a time. */
export function iso(ts) {
  const d = new Date(ts);
  return Number.isFinite(d.getTime()) ? d.toISOString() : '';
}

/** `12:04:31` for an epoch-ms time. */
export function clock(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** `Dec 1, 12:04` for an epoch-ms time. */
export function when(ts) {
  return new Date(ts).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Human duration: 45 s, 10 min, 2 h 5 min, 3 d. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) {
    const m = Math.round((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  return `${Math.round(s / 86400)} d`;
}

/** The contract's room id rule (§ conventions). */
export const ROOM_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
