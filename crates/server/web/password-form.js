// "Change password" in Settings: the current password, the new one and the new one again
// (`PUT /v1/users/me/password`). Every other session of the user ends when it changes (their sockets close
// with 4003); this one stays. A mistake is said in the form's alert, the field it is about marked invalid,
// described by it and focused. Imported when Settings opens (settings.js), not on the first load; settings.js
// also stops the browser from submitting the form itself before then, which would put the passwords in the
// page's address.
import { changePassword } from '/api.js';
import { publish, state } from '/state.js';
import { $, isBusy, setBusy } from '/ui.js';

/** The shortest and longest passwords the server takes. */
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 256;

/** Empties the form (values, the alert, the status, the marks): Settings closed, and nothing typed stays. */
export function clearPasswordForm() {
  const form = /** @type {HTMLFormElement} */ ($('#password-form'));
  if (isBusy(form.querySelector('button[type="submit"]'))) return;
  form.reset();
  mark(form, null, '');
  $('#password-status').textContent = '';
}

/** Names the user in the form's hidden "username" field, for password managers (a reset keeps it).
 * @param {HTMLFormElement} form */
function nameUser(form) {
  field(form, 'username').defaultValue = state.me.username ?? '';
}

/** @param {HTMLFormElement} form
 * @param {string} name */
const field = (form, name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));

/** Says `message` in the form's alert and marks `name`'s field as what it is about (none: null), focusing it.
 * @param {HTMLFormElement} form
 * @param {string | null} name
 * @param {string} message */
function mark(form, name, message) {
  const alert = $('#password-error');
  alert.textContent = message;
  for (const input of form.querySelectorAll('input')) {
    const invalid = input.name === name;
    if (invalid) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    // The field in error is described by the alert too (after its own hint, if it has one).
    const described = (input.getAttribute('aria-describedby') || '').split(' ').filter((id) => id && id !== alert.id);
    if (invalid) described.push(alert.id);
    if (described.length) input.setAttribute('aria-describedby', described.join(' '));
    else input.removeAttribute('aria-describedby');
  }
  if (name) field(form, name).focus();
}

/** The form was submitted (settings.js keeps the browser from submitting it itself): checks what was typed,
 * then changes the password.
 * @param {HTMLFormElement} form */
export async function submitPassword(form) {
  const s = state;
  nameUser(form);
  const button = form.querySelector('button[type="submit"]');
  const status = $('#password-status');
  if (isBusy(button)) return;
  const current = field(form, 'current').value;
  const next = field(form, 'new').value;
  const again = field(form, 'confirm').value;
  status.textContent = '';
  if (!current) return mark(form, 'current', 'Enter your current password.');
  const length = [...next].length; // characters, as the server counts them, not UTF-16 units
  if (length < MIN_PASSWORD || length > MAX_PASSWORD) {
    return mark(form, 'new', `The new password needs ${MIN_PASSWORD} to ${MAX_PASSWORD} characters.`);
  }
  if (next !== again) return mark(form, 'confirm', 'The new passwords do not match: type the same one twice.');
  mark(form, null, '');
  setBusy(button, true);
  try {
    await changePassword(current, next);
    if (state !== s) return;
    form.reset();
    status.textContent = 'Password changed. You were logged out on your other devices.';
    publish('sessions');
  } catch (err) {
    if (state !== s || err.status === 401) return;
    if (err.code === 'wrong_password') mark(form, 'current', 'Not changed: your current password is not right.');
    else if (err.code === 'invalid_password') mark(form, 'new', `Not changed: ${err.message}`);
    else mark(form, null, `Not changed: ${err.message}`);
  } finally {
    setBusy(button, false);
  }
}
