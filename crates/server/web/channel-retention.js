// Channel settings' retention part: how long the channel keeps its messages, the organization's policy, for
// ever, or a number of days (`PUT /v1/conversations/{id}/retention`, null for the organization's). It shows
// only where the organization lets channels have a retention of their own (`channel_retention` in
// `GET /v1/org/settings`, read when the panel opens) and to those who may change it: the channel's owners and
// the organization's owners and administrators, not its moderators (the server checks too: 403
// `not_moderator`, `channel_retention_off`). What the server refuses is said in the part's alert, in its
// words. A change made elsewhere (`conversation.updated`) shows here too, unless the user has changed the
// choice and not saved it; a change of the user's roles shows or hides the part. Imported the first time the
// panel opens (channel-settings.js).
import { orgSettings, setChannelRetention } from '/api.js';
import { namesModerators } from '/channel-settings.js';
import { updateConversation } from '/conversations.js';
import { state, subscribe } from '/state.js';
import { h, isBusy, setBusy } from '/ui.js';

/** @typedef {import('/state.js').Conversation} Conversation */
/** @typedef {import('/api.js').OrgSettings} OrgSettings */

/** The longest retention the server takes, in days (a hundred years). */
const MAX_RETENTION_DAYS = 36500;

/** A retention as the form holds it: the organization's, for ever, or a number of days.
 * @typedef {{choice: 'org' | 'forever' | 'days', days: string}} Retention */

/** What the part shows, while it shows: its box, the channel, the organization's settings, and, when the form
 * is there, its fields as last filled from the channel (a choice that still says that is not being changed). */
let shown = /** @type {{box: HTMLElement, conversationId: string, org: OrgSettings,
 *   form: {filled: Retention, radios: HTMLInputElement[], days: HTMLInputElement, showDays: () => void} | null} | null} */ (null);

/** The form's value of a channel's `retention_days`.
 * @param {number | null | undefined} days
 * @returns {Retention} */
const retentionOf = (days) => (days === null || days === undefined ? { choice: 'org', days: '' }
  : days === 0 ? { choice: 'forever', days: '' } : { choice: 'days', days: String(days) });

/** Fills `box` with the retention of channel `conversationId` when the user may change it, or hides it.
 * @param {HTMLElement} box
 * @param {string} conversationId */
export async function showChannelRetention(box, conversationId) {
  const s = state;
  box.hidden = true;
  box.replaceChildren();
  shown = null;
  let org;
  try {
    org = await orgSettings();
  } catch (err) {
    // Without the organization's settings, whether a channel may have its own is unknown: nothing shows,
    // except to those who could change it, who are told.
    const e = state === s && s.conversations.get(conversationId);
    if (!e || !box.isConnected || err.status === 401 || !namesModerators(e.conv)) return;
    box.hidden = false;
    box.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, `Could not read the organization's retention: ${err.message}`));
    return;
  }
  if (state !== s || !box.isConnected) return;
  shown = { box, conversationId, org, form: null };
  sync();
}

/** Whether the part shows for `conv`: channels may have their own retention, and the user may set it.
 * @param {Conversation} conv */
const allowed = (conv) => shown.org.channel_retention && namesModerators(conv);

/** Shows, hides or updates the part as the channel and the user's roles are now. */
function sync() {
  const s = state;
  if (!s || !shown || !shown.box.isConnected) return;
  const conv = s.conversations.get(shown.conversationId)?.conv;
  if (!conv) return;
  if (!allowed(conv)) {
    if (shown.form) {
      shown.form = null;
      shown.box.replaceChildren();
    }
    shown.box.hidden = true;
    return;
  }
  if (!shown.form) {
    render(shown.box, conv);
    return;
  }
  // The channel's retention changed elsewhere: the form takes it unless the user has changed the choice.
  const { filled, radios, days, showDays } = shown.form;
  const now = retentionOf(conv.retention_days);
  if (now.choice === filled.choice && now.days === filled.days) return;
  const chosen = radios.find((r) => r.checked)?.value;
  const untouched = chosen === filled.choice && (filled.choice !== 'days' || days.value.trim() === filled.days);
  if (untouched) {
    for (const radio of radios) radio.checked = radio.value === now.choice;
    if (now.choice === 'days') days.value = now.days;
    showDays();
  }
  Object.assign(filled, now);
}

/** The organization's policy, in words, for the first choice.
 * @param {OrgSettings} org */
const orgPolicy = (org) => (org.retention_days
  ? `messages older than ${org.retention_days.toLocaleString('en-US')} ${org.retention_days === 1 ? 'day are' : 'days are'} deleted`
  : 'messages are kept for ever');

/** Shows the form for `conv` in `box`.
 * @param {HTMLElement} box
 * @param {Conversation} conv */
function render(box, conv) {
  const s = state;
  const filled = retentionOf(conv.retention_days);
  const choices = /** @type {[Retention['choice'], string][]} */ ([
    ['org', `Follow the organization's policy (${orgPolicy(shown.org)})`],
    ['forever', 'Keep for ever'],
    ['days', 'Delete messages older than a number of days'],
  ]);
  const radios = choices.map(([value]) => {
    const radio = /** @type {HTMLInputElement} */ (h('input', { type: 'radio', name: 'channel-retention', value, id: `channel-retention-choice-${value}` }));
    radio.checked = value === filled.choice;
    return radio;
  });
  const days = /** @type {HTMLInputElement} */ (h('input', { id: 'channel-retention-days', name: 'retention_days', type: 'number', min: 1, max: MAX_RETENTION_DAYS, step: 1, inputmode: 'numeric', 'aria-describedby': 'channel-retention-days-hint channel-retention-error' }));
  days.value = filled.days;
  const daysField = h('div', { class: 'field' },
    h('label', { for: days.id }, 'Days to keep messages'),
    days,
    h('p', { id: 'channel-retention-days-hint', class: 'hint' }, `1 to ${MAX_RETENTION_DAYS.toLocaleString('en-US')}. Older messages are deleted for good, with their files.`));
  const alert = h('p', { id: 'channel-retention-error', class: 'form-error', role: 'alert' });
  const status = h('p', { class: 'hint', role: 'status' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save retention');
  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'channel-retention', 'aria-label': 'Message retention', 'aria-describedby': alert.id, novalidate: true },
    h('fieldset', { class: 'plain-fieldset' },
      h('legend', { class: 'channel-retention-title' }, 'Message retention'),
      ...radios.map((radio, i) => h('div', { class: 'check-field' }, radio, h('label', { for: radio.id }, choices[i][1]))),
      daysField,
      h('p', { class: 'form-buttons' }, save)),
    alert,
    status));
  const showDays = () => (daysField.hidden = !radios[2].checked);
  showDays();
  box.replaceChildren(form);
  box.hidden = false;
  shown.form = { filled, radios, days, showDays };
  const view = shown;

  form.addEventListener('change', (ev) => {
    if (/** @type {HTMLInputElement} */ (ev.target).name === 'channel-retention') showDays();
  });
  days.addEventListener('input', () => days.removeAttribute('aria-invalid'));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (isBusy(save)) return;
    alert.textContent = '';
    status.textContent = '';
    const choice = /** @type {Retention['choice']} */ (radios.find((r) => r.checked)?.value);
    const typed = days.value.trim();
    if (choice === filled.choice && (choice !== 'days' || typed === filled.days)) {
      status.textContent = 'Nothing to save.';
      return;
    }
    // "Delete after" needs a whole number of days, 1 or more (0 would mean for ever, the other choice); the
    // server says what is too many.
    const number = Number(typed || NaN);
    if (choice === 'days' && !(Number.isInteger(number) && number >= 1)) {
      days.setAttribute('aria-invalid', 'true');
      alert.textContent = `Not saved: say after how many days messages are deleted, a whole number from 1 to ${MAX_RETENTION_DAYS.toLocaleString('en-US')}.`;
      days.focus();
      return;
    }
    setBusy(save, true);
    try {
      const changed = await setChannelRetention(conv.id, choice === 'org' ? null : choice === 'forever' ? 0 : number);
      if (state !== s) return;
      if (shown === view) Object.assign(filled, retentionOf(changed.retention_days));
      updateConversation(changed);
      if (form.isConnected) status.textContent = 'Saved.';
    } catch (err) {
      if (state !== s || err.status === 401) return;
      if (err.code === 'invalid_retention') days.setAttribute('aria-invalid', 'true');
      alert.textContent = `Not saved: ${err.message}`;
    } finally {
      setBusy(save, false);
    }
  });
}

// The channel changed (its retention, here or elsewhere), or the user's role in it; the user's own
// organization role changed (made an administrator, or no longer one).
subscribe('conversations', () => sync());
subscribe('user', (user) => user.id === state?.me.id && sync());
