// Feedback on every action: a short line in the toast area (a polite live
// region, so screen readers hear it too). `act()` wraps an action's promise:
// "Timed out bob for 10 min ✓" when acked, the refusal in words when refused.

import { $, h } from './dom.js';
import { refusal } from './words.js';

const MAX_TOASTS = 5;

/**
 * Show a line of feedback.
 * @param {string} message
 * @param {'ok' | 'error' | 'info'} [kind]
 */
export function toast(message, kind = 'info') {
  const box = $('toasts');
  const item = h('div', { class: `toast toast-${kind}`, dataset: { kind } },
    h('span', { class: 'toast-text' }, message),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '✕'));
  box.append(item);
  while (box.children.length > MAX_TOASTS) box.firstElementChild?.remove();
  setTimeout(() => item.remove(), kind === 'error' ? 12000 : 6000);
}

/**
 * Run an action and tell how it went.
 * @template T
 * @param {string} label what was done, e.g. "Deleted the message of bob"
 * @param {Promise<T>} promise the action (a request of roomcast-client or the REST API)
 * @param {{silent?: boolean}} [options] silent: report refusals only
 * @returns {Promise<T | undefined>} the result, or undefined when refused
 */
export async function act(label, promise, options = {}) {
  try {
    const result = await promise;
    if (!options.silent) toast(`${label} ✓`, 'ok');
    return result;
  } catch (err) {
    toast(`${label}: ${refusal(err)}`, 'error');
    return undefined;
  }
}
