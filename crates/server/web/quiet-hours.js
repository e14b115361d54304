// Quiet hours (Settings): the hours of each day when the server holds the user's notifications back, for
// every device, until they end (`GET` and `PUT /v1/me/notifications`). The times are saved with this browser's time zone, which the
// form names. Imported when Settings opens (settings.js), not on the first load.
import { notificationSettings, saveNotificationSettings } from '/api.js';
import { state } from '/state.js';
import { $, isBusy, setBusy } from '/ui.js';

/** @typedef {import('/api.js').QuietHours} QuietHours */

/** The forms wired already (each login mounts a new one). */
const wired = /** @type {WeakSet<Element>} */ (new WeakSet());

/** This browser's time zone, as an IANA name ("Europe/Berlin"). */
const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Shows the saved quiet hours, and wires the form once. */
export async function showQuietHours() {
  const s = state;
  const form = /** @type {HTMLFormElement} */ ($('#quiet-form'));
  const status = $('#quiet-status');
  if (!wired.has(form)) {
    wired.add(form);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      save(form, status);
    });
  }
  showZone(null);
  if (isBusy(submitButton(form))) return;
  let settings;
  try {
    settings = await notificationSettings();
  } catch (err) {
    if (state === s) status.textContent = err.status === 404 ? 'This server does not keep quiet hours.' : `Could not load quiet hours: ${err.message}`;
    return;
  }
  if (state !== s || isBusy(submitButton(form))) return;
  fill(form, settings.quiet_hours);
}

/** @param {HTMLFormElement} form */
const submitButton = (form) => /** @type {HTMLElement} */ (form.querySelector('button[type="submit"]'));

/** @param {HTMLFormElement} form
 * @param {QuietHours | null} quiet */
function fill(form, quiet) {
  const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
  field('on').checked = !!quiet;
  if (quiet) {
    field('start').value = quiet.start;
    field('end').value = quiet.end;
  }
  showZone(quiet);
}

/** Names the time zone the times are in: this browser's, and the saved one when it differs.
 * @param {QuietHours | null} quiet */
function showZone(quiet) {
  const here = timeZone();
  $('#quiet-zone').textContent = quiet && quiet.time_zone !== here
    ? `Saved in ${quiet.time_zone}; saving again uses this browser's time zone, ${here}.`
    : `Times in ${here}, this browser's time zone.`;
}

/** @param {HTMLFormElement} form
 * @param {Element} status */
async function save(form, status) {
  const s = state;
  const button = submitButton(form);
  const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
  if (isBusy(button)) return;
  const on = field('on').checked;
  const start = field('start').value;
  const end = field('end').value;
  if (on && (!start || !end || start === end)) {
    status.textContent = start && start === end ? 'Choose an end time other than the start.' : 'Choose a start and an end time.';
    return;
  }
  setBusy(button, true);
  status.textContent = '';
  try {
    const saved = await saveNotificationSettings({ quiet_hours: on ? { start, end, time_zone: timeZone() } : null });
    if (state !== s) return;
    fill(form, saved.quiet_hours);
    status.textContent = saved.quiet_hours ? `Quiet hours saved: ${saved.quiet_hours.start} to ${saved.quiet_hours.end}.` : 'Quiet hours off.';
  } catch (err) {
    if (state === s) status.textContent = `Not saved: ${err.message}`;
  } finally {
    setBusy(button, false);
  }
}
