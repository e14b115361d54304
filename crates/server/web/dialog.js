// A small modal dialog (`<dialog>` opened with showModal): a heading, what the caller gives, and "Close".
// The browser keeps the focus inside it and closes it on Escape; on closing it goes, and the focus goes back
// to the control that opened it.
import { $, h } from '/ui.js';

let opened = 0;

/**
 * Opens a dialog titled `title` showing `body`; returns it (the caller may fill it in later).
 * @param {string} title
 * @param {Node[]} body
 * @param {{opener?: HTMLElement | null, className?: string}} [options]
 * @returns {HTMLDialogElement}
 */
export function openDialog(title, body, { opener = null, className = '' } = {}) {
  const headingId = `dialog-title-${++opened}`;
  const close = h('button', { type: 'button', class: 'dialog-close' }, 'Close');
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: `dialog ${className}`.trim(), 'aria-labelledby': headingId },
    h('h2', { id: headingId, class: 'dialog-title' }, title),
    h('div', { class: 'dialog-body' }, ...body),
    h('p', { class: 'dialog-buttons' }, close)));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener?.isConnected) opener.focus();
  });
  // Inside the page's main landmark, so that all its content stays in one.
  ($('#workspace') || document.body).append(dialog);
  dialog.showModal();
  return dialog;
}
