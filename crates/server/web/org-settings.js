// Administration's "Organization settings" tab: how the organization runs (`GET /v1/org/settings`): who may sign
// up without an invitation (anyone, nobody, or people of some email domains, listed), the public channels
// every new member joins (chosen from `GET /v1/channels`), who may create channels, who may make invitations,
// and who may use `@channel` and `@here`. "Save" sends what changed (`PATCH /v1/org/settings`); what the server
// refuses is said in the form's alert, in its words. Imported the first time the tab shows (admin.js).
import { orgSettings, publicChannels, saveOrgSettings } from '/api.js';
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
    h('p', { class: 'form-buttons' }, save),
    alert,
    status));
  panel.replaceChildren(form);

  const signupChosen = () => /** @type {HTMLInputElement | null} */ (form.querySelector('input[name="signup"]:checked'))?.value;
  const showDomains = () => (domainsField.hidden = signupChosen() !== 'email_domains' && !domains.value.trim());
  showDomains();
  form.addEventListener('change', (ev) => {
    if (/** @type {HTMLInputElement} */ (ev.target).name === 'signup') showDomains();
  });

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
    } catch (err) {
      if (state !== s || err.status === 401) return;
      // The user's role changed unseen: their profile is read again, and Administration goes.
      if (err.code === 'not_admin') refreshMe();
      alert.textContent = `Not saved: ${err.message}`;
    } finally {
      setBusy(save, false);
    }
  });
}
