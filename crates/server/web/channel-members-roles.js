// Channel settings' second part: the channel's members and their roles there (its members from
// `GET /v1/conversations/{id}`, its owners and moderators from `GET .../roles`). Those who name its moderators
// (its owners, the organization's administrators) change a member's role with the row's select
// (`PUT .../members/{user_id}/role`); moderators remove plain members, and owners anyone, with "Remove" after a
// question (`DELETE .../members/{user_id}`). What the server refuses is said on that member's row. The table
// is read again when a member joins, leaves or changes role (the socket's events). Imported the first time the
// panel opens (channel-settings.js).
import { api, channelRoles, removeMember, setChannelRole } from '/api.js';
import { moderates, namesModerators } from '/channel-settings.js';
import { confirmDialog } from '/dialog.js';
import { state, subscribe } from '/state.js';
import { h, isBusy, setBusy } from '/ui.js';
import { displayName, getUser } from '/users.js';

/** @typedef {import('/state.js').ChannelRole} ChannelRole */
/** @typedef {import('/state.js').User} User */

/** The roles, in the order the select offers them and the table lists them. @type {Record<ChannelRole, string>} */
const ROLES = { owner: 'Owner', moderator: 'Moderator', member: 'Member' };
const RANK = { owner: 0, moderator: 1, member: 2 };
/** How many plain members the table lists (after every owner and moderator): each is a request the first time. */
const MAX_PLAIN = 100;

/** What the table shows, while it shows: its box, the channel, and the generation of its last read (an older
 * read's answer is dropped). */
let shown = /** @type {{box: HTMLElement, conversationId: string, generation: number} | null} */ (null);

/** Fills `box` with the members of channel `conversationId`, read afresh.
 * @param {HTMLElement} box
 * @param {string} conversationId */
export function showChannelMembers(box, conversationId) {
  shown = { box, conversationId, generation: 0 };
  box.replaceChildren(
    h('h3', { class: 'channel-members-title', id: 'channel-members-title' }, 'Members'),
    h('p', { class: 'hint', role: 'status' }, 'Loading the members…'));
  load();
}

/** Reads the members and their roles, and shows them; the focus stays on the control that had it. */
async function load() {
  const s = state;
  const view = shown;
  const generation = ++view.generation;
  const status = () => view.box.querySelector('[role="status"]');
  try {
    const [conv, roles] = await Promise.all([api('GET', `/v1/conversations/${view.conversationId}`), channelRoles(view.conversationId)]);
    /** @type {Map<string, ChannelRole>} */
    const roleOf = new Map(roles.map((r) => [r.user_id, r.role]));
    // Every owner and moderator, and the first plain members: each is asked for by id (once a session).
    const plain = (conv.members || []).filter((id) => !roleOf.has(id));
    const ids = [...roleOf.keys(), ...plain.slice(0, MAX_PLAIN)];
    const users = await Promise.all(ids.map((id) => getUser(id)));
    if (state !== s || shown !== view || view.generation !== generation) return;
    const rows = ids.map((id, i) => ({ user: users[i], role: roleOf.get(id) ?? 'member' }))
      .sort((a, b) => RANK[a.role] - RANK[b.role] || a.user.name.localeCompare(b.user.name));
    const key = view.box.contains(document.activeElement) ? keyOf(/** @type {HTMLElement} */ (document.activeElement)) : null;
    const entry = s.conversations.get(view.conversationId);
    const channel = entry ? { ...conv, membership: entry.conv.membership } : conv;
    view.box.replaceChildren(
      h('h3', { class: 'channel-members-title', id: 'channel-members-title' }, 'Members'),
      h('p', { class: 'hint', role: 'status' }, rows.length === conv.member_count
        ? `${rows.length} ${rows.length === 1 ? 'member' : 'members'}.`
        : `${conv.member_count} members: the owners and moderators are listed${plain.length ? `, and the first ${Math.min(plain.length, MAX_PLAIN)} others` : ''}.`),
      h('div', { class: 'admin-table-wrap' },
        h('table', { class: 'admin-table channel-members', 'aria-labelledby': 'channel-members-title' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, h('span', { class: 'vh' }, 'Membership')))),
          h('tbody', {}, ...rows.map(({ user, role }) => row(view.conversationId, channel, user, role))))));
    // The focus stays on the control that had it; when its row went (the member removed), on the table's first.
    if (key) /** @type {HTMLElement | null} */ (view.box.querySelector(`[data-row="${key.row}"] [data-key="${key.control}"]`)
      ?? view.box.querySelector('tbody select, tbody button'))?.focus();
  } catch (err) {
    if (state !== s || shown !== view || view.generation !== generation || err.status === 401) return;
    const line = status();
    if (line) line.textContent = `Could not read the members: ${err.message}`;
  }
}

/** Which row and which control of it an element is. @param {HTMLElement} el */
function keyOf(el) {
  const row = /** @type {HTMLElement | null} */ (el.closest('[data-row]'))?.dataset.row;
  return row && el.dataset.key ? { row, control: el.dataset.key } : null;
}

/** One member's row: their name ("(you)" for the user), their role (a select for those who name moderators,
 * else words), and "Remove" where the user may remove them.
 * @param {string} conversationId
 * @param {import('/state.js').Conversation} channel
 * @param {User} user
 * @param {ChannelRole} role */
function row(conversationId, channel, user, role) {
  const me = user.id === state.me.id;
  const name = displayName(user);
  const error = h('p', { id: `channel-member-error-${user.id}`, class: 'row-error', role: 'alert' });
  let roleCell;
  if (namesModerators(channel)) {
    const select = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': `Role of ${name}`, 'aria-describedby': error.id, dataset: { key: 'role' } },
      ...Object.entries(ROLES).map(([value, label]) => h('option', { value, selected: value === role }, label))));
    select.addEventListener('change', () => changeRole(conversationId, user, role, select, error));
    roleCell = h('td', {}, select);
  } else {
    roleCell = h('td', {}, ROLES[role]);
  }
  const mayRemove = !me && (namesModerators(channel) || (moderates(channel) && role === 'member'));
  let remove = null;
  if (mayRemove) {
    remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${name}`, 'aria-describedby': error.id, dataset: { key: 'remove' } }, 'Remove');
    remove.addEventListener('click', () => removeFromChannel(conversationId, user, remove, error));
  }
  return h('tr', { dataset: { row: user.id } },
    h('th', { scope: 'row' }, name, me ? h('span', { class: 'hint' }, ' (you)') : null),
    roleCell,
    h('td', {}, remove, error));
}

/**
 * @param {string} conversationId
 * @param {User} user
 * @param {ChannelRole} was
 * @param {HTMLSelectElement} select
 * @param {Element} error
 */
async function changeRole(conversationId, user, was, select, error) {
  const s = state;
  error.textContent = '';
  if (isBusy(select)) return;
  setBusy(select, true);
  try {
    await setChannelRole(conversationId, user.id, /** @type {ChannelRole} */ (select.value));
    // The `member.role_changed` event reads the table again.
  } catch (err) {
    if (state !== s || err.status === 401) return;
    select.value = was;
    error.textContent = `Role not changed: ${err.message}`;
  } finally {
    setBusy(select, false);
  }
}

/**
 * @param {string} conversationId
 * @param {User} user
 * @param {HTMLElement} button
 * @param {Element} error
 */
async function removeFromChannel(conversationId, user, button, error) {
  const s = state;
  if (isBusy(button)) return;
  error.textContent = '';
  const channel = s.conversations.get(conversationId)?.name || 'this channel';
  const name = displayName(user);
  const yes = await confirmDialog(`Remove ${name}?`,
    `${name} leaves ${channel} at once and is told a moderator removed them. They can join again only if it is public, or someone adds them.`,
    'Remove', { opener: button });
  if (!yes || state !== s || !button.isConnected) return;
  setBusy(button, true);
  try {
    await removeMember(conversationId, user.id);
    // The `member.left` event reads the table again.
  } catch (err) {
    if (state !== s || err.status === 401) return;
    setBusy(button, false);
    error.textContent = `Not removed: ${err.message}`;
  }
}

// A member joined, left, was removed or changed role: the table, if it shows that channel, is read again.
const MEMBERSHIP_EVENTS = new Set(['member.joined', 'member.left', 'member.role_changed']);
subscribe('event', (f) => {
  if (!state || !shown?.box.isConnected || f.conversation_id !== shown.conversationId || !MEMBERSHIP_EVENTS.has(f.type)) return;
  load();
});
