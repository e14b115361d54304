// The people the client knows: each user asked for once per session, and kept up to date as profiles change.
import { api } from '/api.js';
import { forgetAvatar } from '/avatars.js';
import { publish, state } from '/state.js';

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

/** Someone's name or avatar changed (live, or our own change answered): kept, and told to everything that
 * shows them (the `user` notice).
 * @param {User} u */
export function updateUser(u) {
  const s = state;
  const prev = s.users.get(u.id);
  if (prev?.avatar_url && prev.avatar_url !== u.avatar_url) forgetAvatar(s, prev.avatar_url);
  const user = prev ? { ...prev, ...u } : u;
  if (!('avatar_url' in u)) delete user.avatar_url;
  knowUser(s, user);
  if (u.id === s.me.id) s.me = { ...s.me, ...user };
  publish('user', user);
}
