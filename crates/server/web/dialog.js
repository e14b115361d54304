// A small modal dialog (`<dialog>` opened with showModal): a heading, what the caller gives, and its buttons
// ("Close", or a question's answers). The browser keeps the focus inside it and closes it on Escape; on
// closing it goes, and the focus goes back to the control that opened it.
import { $, h } from '/ui.js';

let opened = 0;

/**
 * Opens a dialog titled `title` showing `body` with "Close"; returns it (the caller may fill it in later).
 * @param {string} title
 * @param {Node[]} body
 * @param {{opener?: HTMLElement | null, className?: string}} [options]
 * @returns {HTMLDialogElement}
 */
export function openDialog(title, body, { opener = null, className = '' } = {}) {
  const close = h('button', { type: 'button', class: 'dialog-close' }, 'Close');
  const dialog = show(title, body, [close], opener, className);
  close.addEventListener('click', () => dialog.close());
  return dialog;
}

/**
 * Asks `question` in a dialog titled `title`, answered by `confirmLabel` or "Cancel" (or Escape). The focus
 * starts on "Cancel", the answer that changes nothing. Resolves to whether `confirmLabel` was pressed, once
 * the dialog has closed and the focus is back on `opener`.
 * @param {string} title
 * @param {string} question
 * @param {string} confirmLabel
 * @param {{opener?: HTMLElement | null}} [options]
 * @returns {Promise<boolean>}
 */
export function confirmDialog(title, question, confirmLabel, { opener = null } = {}) {
  const yes = h('button', { type: 'button', class: 'danger-solid' }, confirmLabel);
  const no = h('button', { type: 'button' }, 'Cancel');
  const dialog = show(title, [h('p', { class: 'dialog-question' }, question)], [yes, no], opener, 'confirm-dialog');
  no.focus();
  yes.addEventListener('click', () => dialog.close('yes'));
  no.addEventListener('click', () => dialog.close());
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes')));
}

/**
 * @param {string} title
 * @param {Node[]} body
 * @param {HTMLElement[]} buttons
 * @param {HTMLElement | null} opener
 * @param {string} className
 * @returns {HTMLDialogElement}
 */
function show(title, body, buttons, opener, className) {
  const headingId = `dialog-title-${++opened}`;
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: `dialog ${className}`.trim(), 'aria-labelledby': headingId },
    h('h2', { id: headingId, class: 'dialog-title' }, title),
    h('div', { class: 'dialog-body' }, ...body),
    h('p', { class: 'dialog-buttons' }, ...buttons)));
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener?.isConnected) opener.focus();
  });
  // Inside the page's main landmark, so that all its content stays in one.
  ($('#workspace') || document.body).append(dialog);
  dialog.showModal();
  return dialog;
}
