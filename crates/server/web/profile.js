// The profile of the open DM's other member ("Profile of NAME" in the header): name, handle, online or last
// seen (or deactivated), and adding them to or removing them from the user's contacts.
import { api } from '/api.js';
import { avatar } from '/avatars.js';
import { openEntry } from '/conversations.js';
import { setPresence } from '/presence.js';
import { state, subscribe } from '/state.js';
import { $, h, shortTime } from '/ui.js';
import { displayName } from '/users.js';

/** Wires the profile of a freshly mounted main screen. */
export function setupProfile() {
  $('#profile-btn').addEventListener('click', toggleProfile);
  $('#profile').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      hideProfile();
      $('#profile-btn').focus();
    }
  });
}

/** The header's "Profile of NAME" button shows in a DM with someone else, and only there. */
export function syncProfileButton() {
  const e = openEntry();
  const button = $('#profile-btn');
  const isDm = e?.conv.kind === 'dm' && e.other && e.other !== state.me.id;
  button.hidden = !isDm;
  if (isDm) button.setAttribute('aria-label', `Profile of ${e.name}`);
}

export function hideProfile() {
  const s = state;
  if (s) s.profile = null;
  $('#profile').hidden = true;
  $('#profile').replaceChildren();
  $('#profile-btn').setAttribute('aria-expanded', 'false');
}

async function toggleProfile() {
  const s = state;
  const e = openEntry();
  if (!e?.other) return;
  if (s.profile) {
    hideProfile();
    return;
  }
  const o = s.open;
  const known = s.users.get(e.other) || { id: e.other, name: e.name };
  s.profile = { user: known, contact: null, busy: false };
  $('#profile-btn').setAttribute('aria-expanded', 'true');
  $('#profile').hidden = false;
  renderProfile();
  try {
    const [user, contacts] = await Promise.all([
      api('GET', `/v1/users/${e.other}`),
      api('GET', '/v1/contacts').catch(() => null),
    ]);
    if (state !== s || s.open !== o || !s.profile) return;
    s.profile.user = user;
    if (contacts) s.profile.contact = contacts.contacts.some((c) => c.id === user.id);
    if (user.presence) {
      const live = s.presence.get(user.id);
      // The live state (from events) wins over what the request saw, which may be older.
      setPresence(user.id, live ? live.online : user.presence.online, user.presence.last_seen);
    }
    renderProfile();
  } catch (err) {
    if (state === s && s.profile) $('#profile').append(h('p', { class: 'hint', role: 'alert' }, `Could not load the profile: ${err.message}`));
  }
}

function renderProfile() {
  const s = state;
  const pr = s.profile;
  if (!pr) return;
  const u = pr.user;
  const p = s.presence.get(u.id) || (u.presence ? { online: u.presence.online, last_seen: u.presence.last_seen } : null);
  let status = '';
  if (u.deactivated) status = 'Deactivated by an administrator';
  else if (p?.online) status = 'Online';
  else if (p?.last_seen) status = `Last seen ${shortTime(p.last_seen)}`;
  else if (p) status = 'Offline';
  const children = [
    avatar(u, 'avatar-lg'),
    h('div', { class: 'profile-info' },
      h('p', { class: 'profile-name' }, displayName(u)),
      u.username ? h('p', { class: 'profile-handle' }, `@${u.username}`) : null,
      h('p', { class: 'profile-status' }, status)),
  ];
  if (pr.contact !== null) {
    const b = h('button', { type: 'button', class: 'profile-contact', 'aria-disabled': pr.busy ? 'true' : null }, pr.contact ? 'Remove from contacts' : 'Add to contacts');
    b.addEventListener('click', () => toggleContact());
    children.push(b);
  }
  const focused = $('#profile').contains(document.activeElement) && document.activeElement.classList.contains('profile-contact');
  $('#profile').replaceChildren(...children);
  if (focused) /** @type {HTMLElement | null} */ ($('#profile .profile-contact'))?.focus();
}

async function toggleContact() {
  const s = state;
  const pr = s.profile;
  if (!pr || pr.busy) return;
  pr.busy = true;
  renderProfile();
  try {
    await api(pr.contact ? 'DELETE' : 'PUT', `/v1/contacts/${pr.user.id}`);
    if (s.profile === pr) pr.contact = !pr.contact;
  } catch (err) {
    if (s.profile === pr) $('#profile').append(h('p', { class: 'hint', role: 'alert' }, err.message));
  } finally {
    pr.busy = false;
    if (s.profile === pr) renderProfile();
  }
}

subscribe('presence', (userId) => {
  if (state?.profile?.user.id === userId) renderProfile();
});

subscribe('user', (user) => {
  const s = state;
  if (!s) return;
  if (openEntry()?.other === user.id) syncProfileButton();
  if (s.profile?.user.id !== user.id) return;
  s.profile.user = { ...s.profile.user, ...user };
  if (!user.deactivated) delete s.profile.user.deactivated; // reactivated
  renderProfile();
});
