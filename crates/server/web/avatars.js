// Avatars: a user's image (fetched with the token, since the route needs it, once per URL) or their initials.
import { blobUrl } from '/api.js';
import { state } from '/state.js';
import { h } from '/ui.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').User} User */

/** Initials of a name: "Bob Stone" → "BS".
 * @param {string | undefined} name */
export function initials(name) {
  const parts = String(name || '').trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return '?';
  const first = [...parts[0]][0] || '';
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] || '' : '';
  return (first + last).toUpperCase();
}

/** The blob: URL of an avatar, or null when it cannot be had.
 * @param {string} url
 * @returns {Promise<string | null>} */
function avatarSrc(url) {
  const s = state;
  let p = s.avatars.get(url);
  if (!p) {
    p = blobUrl(url);
    s.avatars.set(url, p);
    // One that failed is asked for again after a while: not on every render, and not never.
    p.then((src) => !src && setTimeout(() => s.avatars.get(url) === p && s.avatars.delete(url), 30000));
  }
  return p;
}

/** Frees the blob behind an avatar URL no longer shown (replaced, or the session ended).
 * @param {AppState} s
 * @param {string} url */
export function forgetAvatar(s, url) {
  const p = s.avatars.get(url);
  s.avatars.delete(url);
  p?.then((src) => src && URL.revokeObjectURL(src));
}

/** Frees every avatar of the session (it ended).
 * @param {AppState} s */
export function forgetAvatars(s) {
  for (const url of [...s.avatars.keys()]) forgetAvatar(s, url);
}

/** A user's avatar: their image if they have one, else their initials in a circle. Decorative (aria-hidden).
 * @param {User | null | undefined} user
 * @param {'' | 'avatar-xs' | 'avatar-sm' | 'avatar-md' | 'avatar-lg'} [size]
 * @returns {HTMLElement} */
export function avatar(user, size = '') {
  const el = h('span', { class: `avatar ${size}`, 'aria-hidden': 'true' }, initials(user?.name));
  if (user?.avatar_url) {
    avatarSrc(user.avatar_url).then((src) => {
      if (!src) return;
      el.replaceChildren(h('img', { src, alt: '' }));
      el.classList.add('has-img');
    });
  }
  return el;
}
