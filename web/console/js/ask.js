// A small form dialog (the page's <dialog id="ask">) for actions that need a
// value or a confirmation: timeout length, ban reason, pin duration. Native
// <dialog> gives a modal focus trap and Escape to cancel; focus goes back to
// the button that opened it.

import { $, clear, h, text } from './dom.js';

/**
 * @typedef {object} Field
 * @property {string} name
 * @property {string} label
 * @property {'text' | 'number' | 'select'} [type]
 * @property {string | number} [value]
 * @property {Array<[string | number, string]>} [options] for selects: [value, label]
 * @property {number} [min] @property {number} [max] @property {number} [maxlength]
 * @property {boolean} [required]
 */

/**
 * Ask, and resolve with the fields' values (strings) or null when cancelled.
 * @param {{title: string, text?: string, fields?: Field[], ok?: string, danger?: boolean}} spec
 * @returns {Promise<Record<string, string> | null>}
 */
export function ask(spec) {
  const dialog = /** @type {HTMLDialogElement} */ ($('ask'));
  const form = /** @type {HTMLFormElement} */ ($('ask-form'));
  const fields = $('ask-fields');
  const okBtn = $('ask-ok');
  const opener = document.activeElement;

  text($('ask-title'), spec.title);
  text($('ask-text'), spec.text ?? '');
  text(okBtn, spec.ok ?? 'OK');
  okBtn.classList.toggle('btn-danger', !!spec.danger);
  clear(fields);
  for (const [i, f] of (spec.fields ?? []).entries()) {
    const id = `ask-f${i}`;
    const input =
      f.type === 'select'
        ? h('select', { id, name: f.name }, (f.options ?? []).map(([v, l]) => h('option', { value: v }, l)))
        : h('input', {
            id, name: f.name, type: f.type ?? 'text', autocomplete: 'off',
            min: f.min, max: f.max, maxlength: f.maxlength, required: f.required,
          });
    if (f.value !== undefined) /** @type {HTMLInputElement} */ (input).value = String(f.value);
    fields.append(h('div', { class: 'field' }, h('label', { for: id }, f.label), input));
  }

  return new Promise((resolve) => {
    let done = false;
    const finish = (/** @type {Record<string, string> | null} */ value) => {
      if (done) return;
      done = true;
      form.removeEventListener('submit', onSubmit);
      $('ask-cancel').removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(value);
    };
    const onSubmit = (/** @type {SubmitEvent} */ ev) => {
      ev.preventDefault();
      if (!form.reportValidity()) return;
      /** @type {Record<string, string>} */
      const values = {};
      for (const [k, v] of new FormData(form).entries()) values[k] = String(v);
      finish(values);
    };
    const onCancel = () => finish(null);
    const onClose = () => finish(null); // Escape
    form.addEventListener('submit', onSubmit);
    $('ask-cancel').addEventListener('click', onCancel);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    /** @type {HTMLElement} */ (fields.querySelector('input, select') ?? okBtn).focus();
  });
}
