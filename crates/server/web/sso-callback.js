// Back from an organization's OpenID provider: the server sends the browser to `/?sso=callback&org=…&code=…
// &state=…&iss=…` (or `&error=…&error_description=…` when the provider refused), `org` being the organization
// whose callback the provider used. What the address carries is taken out of
// the address bar as soon as the page reads it, so that it stays out of the history and of an address copied
// later; then the sign-in is finished with the `flow_key` that the start left in this tab's sessionStorage
// (`POST /v1/auth/sso/callback`), which gives a login as the log-in form's does, or a refusal to say in words.
import { publicApi } from '/api.js';
import { DEACTIVATED } from '/auth.js';
import { takeStartedFlow } from '/sso-sign-in.js';

/** What the provider's redirect carried. @typedef {{org: string | null, code: string | null, state: string | null,
 *   iss: string | null, error: string | null, errorDescription: string | null}} SsoReturn */

/** The most of a provider's own words about a refusal that is shown. */
const MAX_DESCRIPTION_CHARS = 200;

/** How it ended: a login to keep, or why there is none (`notice`) and the organization it was for, to try again.
 * @typedef {{login?: {user_id: string, token: string}, notice?: string, org?: string}} SsoOutcome */

/** The words for a sign-in that cannot be finished here: no flow of this tab's, or one the server no longer has. */
const EXPIRED = 'The sign-in expired or was already used: try again.';

/** What the address says when the page is a return from the provider (`?sso=callback`), which is removed from
 * the address bar; null otherwise.
 * @returns {SsoReturn | null} */
export function takeSsoCallback() {
  const params = new URLSearchParams(location.search);
  if (params.get('sso') !== 'callback') return null;
  // Everything in this query came from the provider's redirect: none of it stays.
  history.replaceState(history.state, '', location.pathname + location.hash);
  return {
    org: params.get('org'),
    code: params.get('code'),
    state: params.get('state'),
    iss: params.get('iss'),
    error: params.get('error'),
    errorDescription: params.get('error_description'),
  };
}

/** Finishes the sign-in that `back` returns from. Never rejects: a failure is an outcome with a notice.
 * @param {SsoReturn} back
 * @returns {Promise<SsoOutcome>} */
export async function finishSsoSignIn(back) {
  const flow = takeStartedFlow();
  const provider = flow?.display_name || 'your organization\'s sign-in';
  const org = flow?.org;
  // Without a sign-in begun in this tab, nothing in the address is shown: anyone can make such a link.
  if (!flow) return { notice: EXPIRED, org };
  if (back.error) return { notice: providerRefusal(back, provider), org };
  if (!back.org || !back.code || !back.state) return { notice: EXPIRED, org };
  try {
    const body = { org: back.org, state: back.state, code: back.code, flow_key: flow.flow_key };
    if (back.iss) body.iss = back.iss;
    return { login: await publicApi('POST', '/v1/auth/sso/callback', body) };
  } catch (e) {
    return { notice: refusal(e, provider, org), org };
  }
}

/** What the provider's own refusal (an OAuth `error`) means for the person.
 * @param {SsoReturn} back
 * @param {string} provider */
function providerRefusal(back, provider) {
  if (back.error === 'access_denied') return `Not signed in: the sign-in with ${provider} was cancelled or refused.`;
  const said = (back.errorDescription || back.error || '').slice(0, MAX_DESCRIPTION_CHARS);
  return `Not signed in: ${provider} answered "${said}". Try again, or ask an administrator of your organization.`;
}

/** What the server's refusal of the callback means for the person.
 * @param {any} e an ApiError
 * @param {string} provider
 * @param {string | undefined} org */
function refusal(e, provider, org) {
  switch (e.code) {
    case 'invalid_sso_state':
      return EXPIRED;
    case 'sso_account_exists':
      return `Not signed in: an account with your email address already exists, and it cannot be joined to ${provider}. ` +
        'Log in with its password, or ask an administrator of your organization.';
    case 'sso_email_missing':
      return `Not signed in: ${provider} did not give your email address, which your account needs. ` +
        'Ask an administrator of your organization.';
    case 'account_deactivated':
      return DEACTIVATED;
    case 'sso_failed':
      return `Not signed in: ${provider} could not confirm who you are. Try again.`;
    case 'sso_unavailable':
      return `Not signed in: ${provider} cannot be reached right now. Try again in a moment.`;
    case 'sso_not_configured':
      return `Not signed in: ${org || 'your organization'} no longer signs in with ${provider}. Log in with your password.`;
    default:
      return `Not signed in: ${e.message}`;
  }
}
