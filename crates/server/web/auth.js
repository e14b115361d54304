// The auth screen: log in, or sign up, with an invitation when a link brought one; the organization's single
// sign-on, when it has one, is offered on the log-in form (sso-sign-in.js).
import { api, session } from '/api.js';
import { INVITE_UNUSABLE, lookupInvite } from '/invite-link.js';
import { setupSsoSignIn } from '/sso-sign-in.js';
import { $, h, isBusy, setBusy, shortTime } from '/ui.js';

/** Why a right password does not log in: an administrator deactivated the account (`account_deactivated`). */
export const DEACTIVATED = 'This account has been deactivated by an administrator of your organization, so it cannot log in. ' +
  'Ask one of them to reactivate it.';

/**
 * Shows the log-in and sign-up forms in `root`. Either form stores the session it gets, then calls
 * `onLoggedIn`. With `invite` (a token from an invitation link), the sign-up form comes first and joins the
 * invitation's organization: it says which, or that the invitation cannot be used. With `org`, the log-in
 * form's Organization field starts with it (back from a sign-in with its provider that failed).
 * @param {HTMLElement} root
 * @param {{notice?: string, org?: string, invite?: string | null, onLoggedIn: () => unknown}} options
 */
export function showAuth(root, { notice, org, invite, onLoggedIn }) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById('tpl-auth'));
  root.replaceChildren(template.content.cloneNode(true));
  document.title = 'Parley';
  const signup = /** @type {HTMLFormElement} */ ($('#signup-form'));
  const invitation = invite ? showInvitation(signup, invite) : null;
  // Focus starts in the form the visit is for; a notice (why we are here) is read out with its first field.
  const first = /** @type {HTMLInputElement} */ ($(invitation ? '#su-name' : '#li-login'));
  if (notice) {
    const n = $('#auth-notice');
    n.textContent = notice;
    n.hidden = false;
    first.setAttribute('aria-describedby', 'auth-notice');
  }
  first.focus();
  const login = /** @type {HTMLFormElement} */ ($('#login-form'));
  if (org) /** @type {HTMLInputElement} */ ($('#li-org')).value = org;
  const sso = setupSsoSignIn(login);
  authForm(login, onLoggedIn, async (f) => {
    const body = { login: f.login.value.trim(), password: f.password.value };
    const org = f.org.value.trim();
    if (org) body.org = org;
    try {
      return await api('POST', '/v1/auth/login', body);
    } catch (e) {
      if (e.code === 'account_deactivated') e.message = DEACTIVATED;
      if (e.code === 'sso_required') e.message = ssoRequired(sso.provider());
      throw e;
    }
  });
  authForm(signup, onLoggedIn, async (f) => {
    const body = {
      name: f.name.value.trim(),
      username: f.username.value.trim(),
      email: f.email.value.trim(),
      password: f.password.value,
    };
    const org = f.org.value.trim();
    // The invitation names the organization: `org` beside it would only risk a mismatch.
    if (invitation?.token) body.invite = invitation.token;
    else if (org) body.org = org;
    try {
      return await api('POST', '/v1/auth/signup', body);
    } catch (e) {
      if (e.code === 'invite_required') {
        e.message = `Joining ${org || 'the default organization'} takes an invitation: ask a member for an invite link.`;
      } else if (e.code === 'sso_required') {
        const which = invitation?.token ? 'the organization of the invitation' : org || 'the default organization';
        e.message = `Not signed up: ${which} signs in with single sign-on. Type its handle in the Organization field ` +
          'of the log-in form and use the "Sign in with" button that shows: your account is made the first time.';
      } else if (e.code === 'invalid_invite') {
        invitation?.unusable();
        e.message = 'Not signed up: the invitation is unknown, expired or used up.';
      }
      throw e;
    }
  });
}

/** Why a right password does not log in (`sso_required`): the organization signs in with its provider.
 * @param {import('/api.js').SsoProvider | null} provider the single sign-on the log-in form offers, if any */
function ssoRequired(provider) {
  if (provider?.required) {
    return `${provider.org} signs in with ${provider.display_name}: use "Sign in with ${provider.display_name}" below. ` +
      'Only its owners may log in with a password.';
  }
  return 'Your organization signs in with single sign-on: type its handle in the Organization field and use the ' +
    '"Sign in with" button that shows. Only its owners may log in with a password.';
}

/**
 * @param {HTMLFormElement} form
 * @param {() => unknown} onLoggedIn
 * @param {(fields: any) => Promise<{user_id: string, token: string}>} call
 */
function authForm(form, onLoggedIn, call) {
  const alert = form.querySelector('[role="alert"]');
  const button = form.querySelector('button[type="submit"]');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (isBusy(button)) return;
    alert.textContent = '';
    setBusy(button, true);
    form.setAttribute('aria-busy', 'true');
    try {
      const r = await call(form.elements);
      session.set(r.user_id, r.token);
      await onLoggedIn();
    } catch (e) {
      alert.textContent = e.message || 'Something went wrong.';
    } finally {
      setBusy(button, false);
      form.removeAttribute('aria-busy');
    }
  });
}

/**
 * The invitation on the sign-up form: the form moves first, the Organization field goes (the invitation names
 * the organization), and a status line says where the invitation leads once it is looked up, or that it
 * cannot be used (then the field comes back, for signing up without it).
 * @param {HTMLFormElement} form
 * @param {string} token
 * @returns {{readonly token: string | null, unusable: () => void}}
 */
function showInvitation(form, token) {
  const note = $('#su-invite');
  const orgField = $('#su-org-field');
  /** The token to sign up with: null once it turned out unusable. */
  let current = /** @type {string | null} */ (token);
  form.parentElement.prepend(form);
  note.hidden = false;
  note.textContent = 'Checking the invitation…';
  orgField.hidden = true;
  const unusable = () => {
    current = null;
    note.classList.add('unusable');
    note.textContent = INVITE_UNUSABLE;
    orgField.hidden = false;
  };
  lookupInvite(token).then(
    (preview) => {
      if (!note.isConnected || current !== token) return;
      if (!preview) return unusable();
      note.replaceChildren("You're invited to join ", h('strong', {}, preview.org), '.',
        h('span', { class: 'invite-until' }, ` The invitation is valid until ${shortTime(preview.expires_at)}.`));
    },
    (e) => {
      if (note.isConnected && current === token) note.textContent = `Could not check the invitation: ${e.message} You can still sign up with it.`;
    },
  );
  return {
    get token() {
      return current;
    },
    unusable,
  };
}
