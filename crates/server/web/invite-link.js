// An invitation link, `/#invite=TOKEN` (the `url` of `POST /v1/invites`): reading it, looking it up, what
// the main screen says when someone already logged in opens one, and whether an invitation can still be used
// (its maker's panel and Administration's "Invitations" tab both say it).
//
// The token rides in the fragment, which a browser never sends to the server: it stays out of the server's,
// a proxy's and the browser's request logs. It is taken out of the address bar as soon as it is read, so an
// address copied or shown later does not pass it on.
import { api } from '/api.js';
import { h } from '/ui.js';

/** @typedef {{org: string, expires_at: string}} InvitePreview */

/** The invitation token of the address (`#invite=TOKEN`), which is removed from the address bar; null when
 * the address has none.
 * @returns {string | null} */
export function takeInviteToken() {
  if (!location.hash.startsWith('#invite=')) return null;
  const token = new URLSearchParams(location.hash.slice(1)).get('invite')?.trim() || null;
  history.replaceState(history.state, '', location.pathname + location.search);
  return token;
}

/** Calls `fn(token)` whenever an invitation link is opened in this page without loading it again (pasted into
 * the address bar of an open tab, which only changes the fragment).
 * @param {(token: string) => void} fn */
export function onInviteLink(fn) {
  window.addEventListener('hashchange', () => {
    const token = takeInviteToken();
    if (token) fn(token);
  });
}

/** Where an invitation leads, or null when it is unknown, expired or used up. Rejects with an ApiError when
 * that cannot be told now (offline, the server unavailable).
 * @param {string} token
 * @returns {Promise<InvitePreview | null>} */
export async function lookupInvite(token) {
  try {
    return await api('POST', '/v1/invites/lookup', { token });
  } catch (e) {
    if (e.status === 404 || e.status === 400) return null;
    throw e;
  }
}

/** Whether an invitation can still be used, in words: "Used up" once its uses reach its maximum, "Expired"
 * once its time has passed, else "Active".
 * @param {{uses: number, max_uses: number, expires_at: string}} invite
 * @returns {'Active' | 'Used up' | 'Expired'} */
export function inviteStatus(invite) {
  if (invite.uses >= invite.max_uses) return 'Used up';
  if (Date.parse(invite.expires_at) <= Date.now()) return 'Expired';
  return 'Active';
}

/** The words for an invitation that cannot be used. */
export const INVITE_UNUSABLE = 'This invitation is unknown, expired or used up: ask whoever sent it for a new link.';

/** Told to someone logged in who opens an invitation link: the link is not used (an account belongs to one
 * organization), and how to use it. A section with a heading and an "OK" button that calls `done`.
 * @param {string} org the handle of the organization the user is in
 * @param {() => void} done
 * @returns {HTMLElement} */
export function inviteIgnoredNotice(org, done) {
  const ok = h('button', { type: 'button', class: 'primary' }, 'OK');
  ok.addEventListener('click', done);
  const onkeydown = (/** @type {KeyboardEvent} */ ev) => ev.key === 'Escape' && done();
  return h('section', { class: 'dm-panel join-ask invite-ignored', 'aria-labelledby': 'invite-ignored-title', onkeydown },
    h('h2', { id: 'invite-ignored-title' }, 'You are already in an organization'),
    h('p', {}, 'You opened an invitation link, but you are logged in to ', h('strong', {}, org),
      ', so it was not used. To join another organization with it, log out, then open the link again.'),
    h('p', { class: 'join-ask-buttons' }, ok));
}
