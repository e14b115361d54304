// Single sign-on on the log-in form: when the organization in its "Organization" field (or, empty, the server's
// default organization) signs in with an OpenID provider (`GET /v1/auth/sso?org=` answers), a button
// "Sign in with {display_name}" shows under "Log in", and, when the organization requires it, a line at the
// top of the form says so. The field is looked up again as it changes (a moment after the last keystroke; an
// answer that a later lookup overtook is dropped). The button begins the flow (`POST /v1/auth/sso/start`),
// keeps what finishing it needs in sessionStorage (this tab only) and goes to the provider, which sends the
// browser back to `/?sso=callback&…`, where sso-callback.js finishes.
import { publicApi } from '/api.js';
import { h, isBusy, liveSearch, setBusy } from '/ui.js';

/** @typedef {import('/api.js').SsoProvider} SsoProvider */

/** A sign-in begun in this tab: the `flow_key` the start gave (the callback must show it), and the
 * organization and the button's name, for the words if it fails.
 * @typedef {{flow_key: string, org: string, display_name: string}} StartedFlow */

/** sessionStorage: the StartedFlow, as JSON, from the start until the callback takes it. */
const FLOW_KEY = 'parley.sso-flow';

/**
 * Offers the organization's single sign-on on the log-in form `form` (its `#li-sso-note` and `#li-sso`).
 * Returns what it found for the organization in the field now, for the form's words when a password is
 * refused (`sso_required`).
 * @param {HTMLFormElement} form
 * @returns {{provider: () => SsoProvider | null}}
 */
export function setupSsoSignIn(form) {
  const orgInput = /** @type {HTMLInputElement} */ (form.elements.namedItem('org'));
  const password = /** @type {HTMLInputElement} */ (form.elements.namedItem('password'));
  const note = /** @type {HTMLElement} */ (form.querySelector('#li-sso-note'));
  const box = /** @type {HTMLElement} */ (form.querySelector('#li-sso'));
  const button = h('button', { type: 'button', class: 'sso-button', 'aria-describedby': 'li-sso-error' });
  const alert = h('p', { id: 'li-sso-error', class: 'form-error', role: 'alert' });
  const or = h('p', { class: 'sso-or' }, 'or');
  box.replaceChildren(or, button, alert);
  const passwordHints = password.getAttribute('aria-describedby');

  /** The single sign-on of the organization in the field, as last looked up. @type {SsoProvider | null} */
  let provider = null;
  /** The field's value it was looked up for ('' for the default organization). */
  let lookedUp = '';

  /** @param {SsoProvider | null} found
   * @param {string} org */
  const show = (found, org) => {
    provider = found;
    lookedUp = org;
    box.hidden = or.hidden = button.hidden = !found;
    alert.textContent = '';
    note.hidden = !found?.required;
    if (found) button.textContent = `Sign in with ${found.display_name}`;
    if (found?.required) {
      note.textContent = `${found.org} signs in with ${found.display_name}. Only its owners may log in with a password.`;
      password.setAttribute('aria-describedby', [passwordHints, note.id].filter(Boolean).join(' '));
    } else if (passwordHints) password.setAttribute('aria-describedby', passwordHints);
    else password.removeAttribute('aria-describedby');
  };

  const lookup = liveSearch(orgInput, async (/** @type {string} */ org, /** @type {() => boolean} */ isCurrent) => {
    let found = null;
    try {
      found = await publicApi('GET', `/v1/auth/sso${org ? `?org=${encodeURIComponent(org)}` : ''}`);
    } catch {
      // 404 (none, or no such organization), 400 (not a handle), or the server out of reach: no button.
    }
    if (isCurrent() && form.isConnected) show(found, org);
  });
  lookup.now();

  button.addEventListener('click', async () => {
    if (isBusy(button) || !provider) return;
    const chosen = provider;
    alert.textContent = '';
    setBusy(button, true);
    try {
      const started = await publicApi('POST', '/v1/auth/sso/start', lookedUp ? { org: lookedUp } : {});
      /** @type {StartedFlow} */
      const flow = { flow_key: started.flow_key, org: chosen.org, display_name: chosen.display_name };
      sessionStorage.setItem(FLOW_KEY, JSON.stringify(flow));
      // The button stays busy while the page goes.
      location.assign(started.authorization_url);
    } catch (e) {
      setBusy(button, false);
      if (!form.isConnected) return;
      if (e.code === 'sso_not_configured') {
        // Removed since the lookup: the button goes, and its place says why.
        show(null, lookedUp);
        box.hidden = false;
        alert.textContent = `${chosen.org} no longer signs in with ${chosen.display_name}: log in with your password.`;
        return;
      }
      alert.textContent = e.code === 'sso_unavailable'
        ? `${chosen.display_name} cannot be reached right now. Try again in a moment.`
        : `Could not sign in with ${chosen.display_name}: ${e.message}`;
    }
  });

  return { provider: () => provider };
}

/** The sign-in begun in this tab, which is forgotten here (a flow is used once); null when there is none
 * (begun in another tab or browser, or already finished).
 * @returns {StartedFlow | null} */
export function takeStartedFlow() {
  const stored = sessionStorage.getItem(FLOW_KEY);
  sessionStorage.removeItem(FLOW_KEY);
  try {
    const flow = JSON.parse(stored || 'null');
    return typeof flow?.flow_key === 'string' ? flow : null;
  } catch {
    return null;
  }
}

// Back from the provider's page with the browser's Back button, this page may come back as it was left (the
// back/forward cache), its button still busy from the click that left it.
addEventListener('pageshow', (ev) => {
  if (!ev.persisted) return;
  for (const button of document.querySelectorAll('.sso-button')) setBusy(button, false);
});
