// Administration's "Organization settings" tab: how the organization runs (`GET /v1/org/settings`): who may sign
// up without an invitation (anyone, nobody, or people of some email domains, listed), the public channels
// every new member joins (chosen from `GET /v1/channels`), who may create channels, who may make invitations,
// who may use `@channel` and `@here`, how long messages are kept (for ever, or a number of days) and whether a
// channel's owners may give it a retention of its own. "Save" sends what changed (`PATCH /v1/org/settings`);
// what the server refuses is said in the form's alert, in its words. Under the form, the retention's status
// and "Purge now" (retention-status.js). Imported the first time the tab shows (admin.js).
import { orgSettings, publicChannels, saveOrgSettings } from '/api.js';
import { showRetentionStatus } from '/retention-status.js';
import { state } from '/state.js';
import { h, isBusy, setBusy } from '/ui.js';
import { refreshMe } from '/users.js';

/** @typedef {import('/api.js').OrgSettings} OrgSettings */
/** @typedef {import('/state.js').Conversation} Conversation */

/** The sign-up policies, in words, in the order the form offers them. */
const SIGNUP = {
  invite_only: 'Only people with an invitation',
  open: 'Anyone who signs up',
  email_domains: 'People whose email address is at one of these domains',
};

/** The choices of each "who may" setting: its field's label, and each value in words. */
const WHO = /** @type {const} */ ({
  channel_creation: { label: 'Who may create channels', choices: { everyone: 'Everyone but guests', admins: 'Owners and administrators only' } },
  invitations: { label: 'Who may invite people', choices: { everyone: 'Everyone but guests', admins: 'Owners and administrators only' } },
  channel_mentions: { label: 'Who may use @channel and @here', choices: { everyone: 'Everyone', moderators: 'Channel owners and moderators only' } },
});

/** The longest retention the server takes, in days (a hundred years). */
const MAX_RETENTION_DAYS = 36500;

/** Shows the tab's page in `panel`, read afresh.
 * @param {HTMLElement} panel */
export async function showOrgSettings(panel) {
  const s = state;
  if (!panel.firstElementChild) panel.replaceChildren(h('p', { class: 'hint', role: 'status' }, 'Loading the settings…'));
  try {
    const [settings, channels] = await Promise.all([orgSettings(), publicChannels()]);
    if (state !== s) return;
    render(panel, settings, channels);
  } catch (err) {
    if (state !== s || err.status === 401) return;
    panel.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, `Could not read the settings: ${err.message}`));
  }
}

/** Domains as the user typed them (one a line, or separated by commas or spaces), lowercase.
 * @param {string} text */
const domainsIn = (text) => text.split(/[\s,]+/).map((d) => d.trim().toLowerCase()).filter((d) => d);

/** Whether two lists hold the same items, in any order.
 * @param {string[]} a
 * @param {string[]} b */
const sameSet = (a, b) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * @param {HTMLElement} panel
 * @param {OrgSettings} saved
 * @param {Conversation[]} channels
 */
function render(panel, saved, channels) {
  const s = state;
  const alert = h('p', { id: 'org-settings-error', class: 'form-error', role: 'alert' });
  const status = h('p', { class: 'hint', role: 'status' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');

  const domains = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'org-email-domains', name: 'email_domains', rows: 3, spellcheck: 'false', 'aria-describedby': 'org-email-domains-hint' }));
  domains.value = saved.email_domains.join('\n');
  const signupRadios = Object.entries(SIGNUP).map(([value, label]) => {
    const input = /** @type {HTMLInputElement} */ (h('input', { type: 'radio', name: 'signup', value, id: `org-signup-${value}` }));
    input.checked = value === saved.signup;
    return h('div', { class: 'check-field' }, input, h('label', { for: input.id }, label));
  });
  const domainsField = h('div', { class: 'field org-domains' },
    h('label', { for: domains.id }, 'Email domains'),
    domains,
    h('p', { id: 'org-email-domains-hint', class: 'hint' }, 'Such as example.com: one a line, or separated by commas. The server does not check that people own the address they sign up with.'));

  // The public channels, and any default one the list leaves out (past the first hundred), by id.
  const listed = new Set(channels.map((c) => c.id));
  const choices = [...channels.map((c) => ({ id: c.id, name: c.handle ? `${c.name} (#${c.handle})` : c.name || `Channel ${c.id}` })),
    ...saved.default_channels.filter((id) => !listed.has(id)).map((id) => ({ id, name: `Channel ${id}` }))];
  const channelBoxes = choices.map(({ id, name }) => {
    const input = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'default_channels', value: id, id: `org-default-${id}` }));
    input.checked = saved.default_channels.includes(id);
    return h('div', { class: 'check-field' }, input, h('label', { for: input.id }, name));
  });

  // Retention: for ever (0), or a number of days, typed in a field shown only then.
  const retentionRadios = [['forever', 'Keep messages for ever'], ['days', 'Delete messages older than a number of days']].map(([value, label]) => {
    const input = /** @type {HTMLInputElement} */ (h('input', { type: 'radio', name: 'retention', value, id: `org-retention-choice-${value}` }));
    input.checked = (value === 'forever') === (saved.retention_days === 0);
    return h('div', { class: 'check-field' }, input, h('label', { for: input.id }, label));
  });
  const days = /** @type {HTMLInputElement} */ (h('input', { id: 'org-retention-days', name: 'retention_days', type: 'number', min: 1, max: MAX_RETENTION_DAYS, step: 1, inputmode: 'numeric', 'aria-describedby': 'org-retention-days-hint org-settings-error' }));
  days.value = saved.retention_days ? String(saved.retention_days) : '';
  const daysField = h('div', { class: 'field org-retention-days' },
    h('label', { for: days.id }, 'Days to keep messages'),
    days,
    h('p', { id: 'org-retention-days-hint', class: 'hint' }, `1 to ${MAX_RETENTION_DAYS.toLocaleString('en-US')}. Every hour, older messages are deleted for good, with their files.`));
  const channelRetention = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'org-channel-retention', name: 'channel_retention', 'aria-describedby': 'org-channel-retention-hint' }));
  channelRetention.checked = saved.channel_retention;

  const selects = Object.fromEntries(Object.entries(WHO).map(([key, { choices: options }]) => [key,
    /** @type {HTMLSelectElement} */ (h('select', { id: `org-${key}`, name: key },
      ...Object.entries(options).map(([value, label]) => h('option', { value, selected: value === saved[key] }, label))))]));

  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'org-settings', 'aria-label': 'Organization settings', 'aria-describedby': alert.id, novalidate: true },
    h('fieldset', { class: 'org-fieldset' },
      h('legend', {}, 'Who may sign up without an invitation'),
      ...signupRadios,
      domainsField),
    h('fieldset', { class: 'org-fieldset', 'aria-describedby': 'org-default-hint' },
      h('legend', {}, 'Channels new members join'),
      h('p', { id: 'org-default-hint', class: 'hint' }, 'Public channels only; everyone who joins from now on is added to them.'),
      ...(channelBoxes.length ? channelBoxes : [h('p', { class: 'hint' }, 'No public channels yet.')])),
    h('fieldset', { class: 'org-fieldset' },
      h('legend', {}, 'Permissions'),
      ...Object.entries(WHO).map(([key, { label }]) => h('div', { class: 'field' }, h('label', { for: selects[key].id }, label), selects[key]))),
    h('fieldset', { class: 'org-fieldset' },
      h('legend', {}, 'Message retention'),
      ...retentionRadios,
      daysField,
      h('div', { class: 'check-field org-channel-retention' }, channelRetention, h('label', { for: channelRetention.id }, 'Channel owners may set their own retention')),
      h('p', { id: 'org-channel-retention-hint', class: 'hint' }, 'Their channel then keeps messages for ever or for a time of its own, in place of this one.')),
    h('p', { class: 'form-buttons' }, save),
    alert,
    status));
  const retentionBox = h('section', { class: 'retention-status', 'aria-labelledby': 'retention-status-title' });
  panel.replaceChildren(form, retentionBox);
  showRetentionStatus(retentionBox);

  const signupChosen = () => /** @type {HTMLInputElement | null} */ (form.querySelector('input[name="signup"]:checked'))?.value;
  const showDomains = () => (domainsField.hidden = signupChosen() !== 'email_domains' && !domains.value.trim());
  showDomains();
  const retentionChosen = () => /** @type {HTMLInputElement | null} */ (form.querySelector('input[name="retention"]:checked'))?.value;
  const showDays = () => (daysField.hidden = retentionChosen() !== 'days');
  showDays();
  form.addEventListener('change', (ev) => {
    const name = /** @type {HTMLInputElement} */ (ev.target).name;
    if (name === 'signup') showDomains();
    if (name === 'retention') showDays();
  });
  days.addEventListener('input', () => days.removeAttribute('aria-invalid'));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (isBusy(save)) return;
    alert.textContent = '';
    status.textContent = '';
    /** @type {Partial<OrgSettings>} */
    const patch = {};
    const signup = /** @type {OrgSettings['signup']} */ (signupChosen());
    if (signup && signup !== saved.signup) patch.signup = signup;
    const listedDomains = domainsIn(domains.value);
    if (!sameSet(listedDomains, saved.email_domains)) patch.email_domains = listedDomains;
    const defaults = [...form.querySelectorAll('input[name="default_channels"]:checked')].map((input) => /** @type {HTMLInputElement} */ (input).value);
    if (!sameSet(defaults, saved.default_channels)) patch.default_channels = defaults;
    for (const key of /** @type {(keyof typeof WHO)[]} */ (Object.keys(WHO))) {
      if (selects[key].value !== saved[key]) /** @type {any} */ (patch)[key] = selects[key].value;
    }
    // "Delete after" needs a whole number of days, 1 or more (0 would mean for ever, which is the other
    // choice); the server says what is too many.
    const deleteAfter = retentionChosen() === 'days';
    const retentionDays = deleteAfter ? Number(days.value.trim() || NaN) : 0;
    if (deleteAfter && !(Number.isInteger(retentionDays) && retentionDays >= 1)) {
      days.setAttribute('aria-invalid', 'true');
      alert.textContent = `Not saved: say after how many days messages are deleted, a whole number from 1 to ${MAX_RETENTION_DAYS.toLocaleString('en-US')}.`;
      days.focus();
      return;
    }
    if (retentionDays !== saved.retention_days) patch.retention_days = retentionDays;
    if (channelRetention.checked !== saved.channel_retention) patch.channel_retention = channelRetention.checked;
    if (!Object.keys(patch).length) {
      status.textContent = 'Nothing to save.';
      return;
    }
    setBusy(save, true);
    try {
      const now = await saveOrgSettings(patch);
      if (state !== s) return;
      Object.assign(saved, now);
      domains.value = now.email_domains.join('\n');
      showDomains();
      status.textContent = 'Saved.';
      if ('retention_days' in patch || 'channel_retention' in patch) showRetentionStatus(retentionBox);
    } catch (err) {
      if (state !== s || err.status === 401) return;
      // The user's role changed unseen: their profile is read again, and Administration goes.
      if (err.code === 'not_admin') refreshMe();
      if (err.code === 'invalid_retention') days.setAttribute('aria-invalid', 'true');
      alert.textContent = `Not saved: ${err.message}`;
    } finally {
      setBusy(save, false);
    }
  });
}
