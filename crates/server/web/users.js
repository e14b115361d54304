// The people the client knows: each user asked for once per session, and kept up to date as profiles change.
import { api } from '/api.js';
import { forgetAvatar } from '/avatars.js';
import { publish, state } from '/state.js';
import { h } from '/ui.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').User} User */

/**
 * A user by id, asked of the server once (and again after a failure). Never rejects: a user the server does
 * not know comes back named "Unknown user", one that could not be asked named "…".
 * @param {string} id
 * @returns {Promise<User>}
 */
export function getUser(id) {
  const s = state;
  let p = s.userRequests.get(id);
  if (!p) {
    p = api('GET', `/v1/users/${id}`).then(
      (u) => {
        s.names.set(id, u.name);
        s.users.set(id, u);
        return u;
      },
      (e) => {
        s.userRequests.delete(id); // try again next time
        if (e.status === 404) s.names.set(id, 'Unknown user');
        return { id, name: e.status === 404 ? 'Unknown user' : '…' };
      },
    );
    s.userRequests.set(id, p);
  }
  return p;
}

/** Keeps a user we were handed (a search result, an update), so nothing asks the server for them again.
 * @param {AppState} s
 * @param {User} u */
export function knowUser(s, u) {
  s.userRequests.set(u.id, Promise.resolve(u));
  s.names.set(u.id, u.name);
  s.users.set(u.id, u);
}

/** Someone's name, avatar, role or status changed (live, or a change answered): kept, and told to everything
 * that shows them (the `user` notice). `u` is the whole user as the API gives it: a field it leaves out
 * (`avatar_url` once there is none, `deactivated` once reactivated) is gone.
 * @param {User} u */
export function updateUser(u) {
  const s = state;
  const prev = s.users.get(u.id);
  if (prev?.avatar_url && prev.avatar_url !== u.avatar_url) forgetAvatar(s, prev.avatar_url);
  const user = prev ? { ...prev, ...u } : u;
  if (!('avatar_url' in u)) delete user.avatar_url;
  if (!('deactivated' in u)) delete user.deactivated;
  knowUser(s, user);
  if (u.id === s.me.id) s.me = { ...s.me, ...user };
  publish('user', user);
}

/** A person's name as messages and profiles show it: "(deactivated)" after it while an administrator has
 * deactivated the account.
 * @param {{name: string, deactivated?: boolean}} u */
export const displayName = (u) => (u.deactivated ? `${u.name} (deactivated)` : u.name);

/** A person's name in a span, for tables that hold only their id (the audit log, the invitations): by name
 * once known (asked of the server at most once a session), else "User ID" until the answer comes.
 * @param {string} userId
 * @returns {HTMLElement} */
export function personName(userId) {
  const s = state;
  const known = s.users.get(userId);
  if (known) return h('span', {}, displayName(known));
  const span = h('span', {}, `User ${userId}`);
  getUser(userId).then((u) => {
    // getUser says "Unknown user" for someone the server does not show, "…" when it could not ask: the id stays.
    if (state === s && s.users.has(userId)) span.textContent = displayName(u);
  });
  return span;
}

/** Reads the user's own profile again and applies it: a change that came while the socket was down (their
 * role, say) sends no frame afterwards, and an answer such as 403 `not_admin` says something changed. */
export async function refreshMe() {
  const s = state;
  try {
    const me = await api('GET', '/v1/users/me');
    if (state === s) updateUser(me);
  } catch {
    /* the next answer will say more */
  }
}
