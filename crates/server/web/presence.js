// Presence: who is online, for the users we follow (DM partners, and members of groups opened here), and the
// dot that shows it.
import { publish, state, subscribe } from '/state.js';
import { h } from '/ui.js';

/**
 * Keeps a user's presence; tells the screens (the `presence` notice) when it changed.
 * @param {string} userId
 * @param {boolean} online
 * @param {string | null | undefined} lastSeen
 */
export function setPresence(userId, online, lastSeen) {
  const s = state;
  const prev = s.presence.get(userId);
  const next = { online: !!online, last_seen: lastSeen || prev?.last_seen || null };
  s.presence.set(userId, next);
  if (prev && prev.online === next.online && prev.last_seen === next.last_seen) return;
  publish('presence', userId);
}

/** A dot saying whether a user is online or not; null until we know, and for the user themself.
 * @param {string | undefined} userId
 * @returns {HTMLElement | null} */
export function presenceDot(userId) {
  const p = userId && userId !== state.me.id ? state.presence.get(userId) : null;
  if (!p) return null;
  const label = p.online ? 'online' : 'offline';
  return h('span', { class: `dot ${label}`, role: 'img', 'aria-label': label, title: label });
}

/** Follows the presence (and so the profile changes) of users beyond the DM partners: members of groups
 * opened here. Kept for the next connection too.
 * @param {string[]} ids */
export function followUsers(ids) {
  const s = state;
  const fresh = ids.filter((id) => id !== s.me.id && !s.followed.has(id));
  for (const id of fresh) s.followed.add(id);
  if (fresh.length) subscribePresence(fresh);
}

/** Follows these users' presence on this connection; without `ids`, the DM partners' and the followed users'
 * (again after every reconnect).
 * @param {string[]} [ids] */
export function subscribePresence(ids) {
  const s = state;
  if (!s.rt.ready || !s.listReady) return;
  const partners = [...s.conversations.values()].map((e) => e.other).filter((id) => id && id !== s.me.id);
  const want = ids || [...new Set([...partners, ...s.followed])];
  for (let i = 0; i < want.length; i += 1000) s.rt.send({ op: 'presence_sub', user_ids: want.slice(i, i + 1000) });
}

// A list read afresh may hold new DM partners.
subscribe('listed', () => subscribePresence());
