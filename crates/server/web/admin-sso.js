// Administration's "Single sign-on" tab: the organization's OpenID Connect provider (`GET /v1/admin/sso`; a 404
// `sso_not_configured` is an empty form). The form takes the provider's issuer URL, the client registered
// there (its ID and secret: the secret is never shown, and left empty it keeps the stored one), the name its
// button shows on the log-in page, whether a first sign-in takes over the account with the same verified email,
// and whether members must sign in this way; it shows the redirect URI to register at the provider. "Save"
// sends it all (`PUT`, which the server checks by reading the issuer's discovery document), "Remove single
// sign-on" asks first, then deletes it (`DELETE`); what the server refuses is said in the form's alert, in its
// words. Imported the first time the tab shows (admin.js).
import { removeSso, saveSsoSettings, ssoSettings } from '/api.js';
import { confirmDialog } from '/dialog.js';
import { state } from '/state.js';
import { h, isBusy, setBusy } from '/ui.js';
import { refreshMe } from '/users.js';

/** @typedef {import('/api.js').SsoSettings} SsoSettings */
/** @typedef {import('/api.js').SsoSettingsUpdate} SsoSettingsUpdate */

/** Shows the tab's page in `panel`, read afresh.
 * @param {HTMLElement} panel */
export async function showSsoSettings(panel) {
  const s = state;
  if (!panel.firstElementChild) panel.replaceChildren(h('p', { class: 'hint', role: 'status' }, 'Loading the settings…'));
  try {
    const settings = await ssoSettings();
    if (state !== s) return;
    render(panel, settings);
  } catch (err) {
    if (state !== s || err.status === 401) return;
    if (err.code === 'not_admin' || err.code === 'forbidden') refreshMe();
    panel.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, `Could not read the settings: ${err.message}`));
  }
}

/** A labelled text input with a hint under it.
 * @param {HTMLInputElement} input
 * @param {string} label
 * @param {HTMLElement | string | null} hint */
function field(input, label, hint) {
  const hintNode = typeof hint === 'string' ? h('p', { class: 'hint' }, hint) : hint;
  if (hintNode) {
    hintNode.id ||= `${input.id}-hint`;
    input.setAttribute('aria-describedby', hintNode.id);
  }
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintNode);
}

/** A checkbox with its label and a hint under them.
 * @param {HTMLInputElement} input
 * @param {string} label
 * @param {string} hint */
function check(input, label, hint) {
  const hintNode = h('p', { id: `${input.id}-hint`, class: 'hint' }, hint);
  input.setAttribute('aria-describedby', hintNode.id);
  return [h('div', { class: 'check-field' }, input, h('label', { for: input.id }, label)), hintNode];
}

/**
 * @param {HTMLElement} panel
 * @param {SsoSettings | null} saved the organization's single sign-on, null when it has none
 */
function render(panel, saved) {
  const s = state;
  /** What the server has now. */
  let current = saved;
  const input = (/** @type {Record<string, any>} */ attrs) => /** @type {HTMLInputElement} */ (h('input', attrs));
  const alert = h('p', { id: 'sso-settings-error', class: 'form-error', role: 'alert' });
  const status = h('p', { class: 'hint', role: 'status' });

  const issuer = input({ id: 'sso-issuer', name: 'issuer', type: 'url', autocomplete: 'off', spellcheck: 'false', maxlength: 2000 });
  const clientId = input({ id: 'sso-client-id', name: 'client_id', autocomplete: 'off', spellcheck: 'false' });
  // "new-password": a browser never fills in the administrator's own password here.
  const secret = input({ id: 'sso-client-secret', name: 'client_secret', type: 'password', autocomplete: 'new-password', spellcheck: 'false' });
  const secretHint = h('p', { id: 'sso-client-secret-hint', class: 'hint' });
  const displayName = input({ id: 'sso-display-name', name: 'display_name', autocomplete: 'off', maxlength: 100 });
  const redirect = input({ id: 'sso-redirect-uri', name: 'redirect_uri', readonly: true, spellcheck: 'false' });
  const linkByEmail = input({ id: 'sso-link-by-email', name: 'link_by_email', type: 'checkbox' });
  const required = input({ id: 'sso-required', name: 'required', type: 'checkbox' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const remove = h('button', { type: 'button', class: 'danger' }, 'Remove single sign-on');

  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'org-settings sso-settings', 'aria-label': 'Single sign-on', 'aria-describedby': alert.id, novalidate: true },
    h('p', { class: 'hint sso-intro' }, 'People of your organization sign in with its OpenID Connect provider (such as Keycloak, ' +
      'Okta, Microsoft Entra ID or Google Workspace). Register Parley there as a web application with the redirect URI ' +
      'below, then fill in what the provider gives you.'),
    h('fieldset', { class: 'org-fieldset' },
      h('legend', {}, 'Provider'),
      field(redirect, 'Redirect URI to register at the provider', 'Also called the callback or reply URL.'),
      field(issuer, 'Issuer URL', 'Where the provider publishes /.well-known/openid-configuration, such as https://login.example.com.'),
      field(clientId, 'Client ID', null),
      field(secret, 'Client secret', secretHint)),
    h('fieldset', { class: 'org-fieldset' },
      h('legend', {}, 'Signing in'),
      field(displayName, 'Button label', 'The log-in page shows "Sign in with" and this name, such as the provider\'s or your company\'s.'),
      ...check(linkByEmail, 'Link existing accounts by verified email', 'Someone signing in for the first time takes over the ' +
        'account of this organization with the same email address, when the provider says it verified that address: its ' +
        'password is dropped and its sessions end, since Parley never checked that address. Owners\' and administrators\' ' +
        'accounts are never taken over. Otherwise, such a sign-in is refused.'),
      ...check(required, 'Require single sign-on (password login refused, owners excepted)', 'Members log in and join only ' +
        'through the provider. Owners keep their password, so that a provider out of order cannot lock everyone out.')),
    h('p', { class: 'form-buttons' }, save, ' ', remove),
    alert,
    status));
  panel.replaceChildren(form);

  /** Shows the settings as the server has them (`settings`), or an empty form when there are none. */
  const fill = (/** @type {SsoSettings | null} */ settings) => {
    current = settings;
    issuer.value = settings?.issuer ?? '';
    clientId.value = settings?.client_id ?? '';
    secret.value = '';
    secretHint.textContent = settings
      ? 'A secret is stored and never shown: leave this empty to keep it, or type a new one to replace it.'
      : 'The secret the provider gave for this client.';
    displayName.value = settings?.display_name ?? '';
    redirect.value = settings?.redirect_uri ?? `${location.origin}/v1/auth/sso/callback/${state.me?.org ?? ''}`;
    linkByEmail.checked = settings?.link_by_email ?? false;
    required.checked = settings?.required ?? false;
    remove.hidden = !settings;
    for (const el of [issuer, clientId, secret, displayName]) el.removeAttribute('aria-invalid');
  };
  fill(saved);
  form.addEventListener('input', (ev) => /** @type {HTMLElement} */ (ev.target).removeAttribute('aria-invalid'));

  /** Says in the alert why nothing was saved, with the field at fault marked and focused.
   * @param {HTMLInputElement | null} at
   * @param {string} why */
  const refuse = (at, why) => {
    alert.textContent = `Not saved: ${why}`;
    if (!at) return;
    at.setAttribute('aria-invalid', 'true');
    at.focus();
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (isBusy(save)) return;
    alert.textContent = '';
    status.textContent = '';
    /** @type {SsoSettingsUpdate} */
    const settings = {
      issuer: issuer.value.trim(),
      client_id: clientId.value.trim(),
      display_name: displayName.value.trim(),
      link_by_email: linkByEmail.checked,
      required: required.checked,
    };
    const newSecret = secret.value.trim();
    if (newSecret) settings.client_secret = newSecret;
    const missing = [[issuer, 'the issuer URL'], [clientId, 'the client ID'], [secret, 'the client secret'], [displayName, 'the button label']]
      .find(([el]) => !/** @type {HTMLInputElement} */ (el).value.trim() && (el !== secret || !current));
    if (missing) return refuse(/** @type {HTMLInputElement} */ (missing[0]), `fill in ${missing[1]}.`);
    setBusy(save, true);
    try {
      const now = await saveSsoSettings(settings);
      if (state !== s) return;
      fill(now);
      status.textContent = `Saved. The log-in page offers "Sign in with ${now.display_name}"` +
        (now.required ? ', and members can no longer log in with a password.' : '.');
    } catch (err) {
      if (state !== s || err.status === 401) return;
      if (err.code === 'not_admin' || err.code === 'forbidden') refreshMe();
      refuse(err.code === 'sso_discovery_failed' ? issuer : null, err.message);
    } finally {
      setBusy(save, false);
    }
  });

  remove.addEventListener('click', async () => {
    if (isBusy(remove) || !current) return;
    alert.textContent = '';
    status.textContent = '';
    const name = current.display_name;
    const yes = await confirmDialog('Remove single sign-on?',
      `The log-in page will no longer offer "Sign in with ${name}", and members log in with their password again. ` +
      'Those whose account single sign-on made or took over have none: they cannot log in until a provider is set again. ' +
      'The provider\'s settings here, the client secret with them, are deleted.', 'Remove', { opener: remove });
    if (!yes || state !== s) return;
    setBusy(remove, true);
    try {
      await removeSso();
    } catch (err) {
      if (state !== s || err.status === 401) return;
      if (err.code !== 'sso_not_configured') {
        if (err.code === 'not_admin' || err.code === 'forbidden') refreshMe();
        alert.textContent = `Not removed: ${err.message}`;
        return;
      }
      // Removed already (by another administrator): the form shows it so.
    } finally {
      setBusy(remove, false);
    }
    if (state !== s) return;
    fill(null);
    status.textContent = 'Single sign-on removed.';
    // The button that had the focus is gone.
    issuer.focus();
  });
}
