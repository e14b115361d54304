// The sidebar's list of conversations (`#conv-list` in the navigation), in three sections with headings:
// Channels, Direct messages, Groups. One button per conversation, by latest activity, with its last message
// and a DM partner's presence; an unread one is bold, with its unread count, and a mention badge when some of
// them mention the user. It renders the entries of `state.conversations` whenever the `conversations` notice
// says they changed.
import { describeAttachments } from '/attachment-view.js';
import { presenceDot } from '/presence.js';
import { state, subscribe } from '/state.js';
import { $, cmpId, h } from '/ui.js';

/** @typedef {import('/state.js').ConversationEntry} ConversationEntry */
/** @typedef {import('/state.js').Message} Message */

/** Each entry's list item and button, by conversation id: made once, then refilled. */
let items = /** @type {Map<string, {li: HTMLElement, button: HTMLElement}>} */ (new Map());
/** What a click on an entry does (open the conversation). */
let open = /** @type {(conversationId: string) => void} */ (() => {});

/** Wires the list of a freshly mounted main screen.
 * @param {{onOpen: (conversationId: string) => void}} options */
export function setupConversationList({ onOpen }) {
  items = new Map();
  open = onOpen;
}

/** @param {ConversationEntry} e */
function activityTime(e) {
  const t = Date.parse(e.activity);
  return Number.isNaN(t) ? 0 : t;
}

/** Renders every entry in its section, in order of latest activity, and the page's title with the unread
 * count. A section with no conversation is hidden. */
export function renderList() {
  const s = state;
  const entries = [...s.conversations.values()].sort(
    (a, b) => activityTime(b) - activityTime(a) || cmpId(b.last?.id || '0', a.last?.id || '0') || cmpId(b.id, a.id),
  );
  for (const e of entries) renderEntry(e);
  for (const [id, item] of items) {
    if (s.conversations.has(id)) continue;
    item.li.remove();
    items.delete(id);
  }
  for (const section of /** @type {NodeListOf<HTMLElement>} */ ($('#conv-list').querySelectorAll('.conv-section'))) {
    const mine = entries.filter((e) => e.conv.kind === section.dataset.kind);
    const list = section.querySelector('ul');
    const current = [...list.children];
    if (current.length !== mine.length || mine.some((e, i) => current[i] !== items.get(e.id).li)) {
      const focused = /** @type {HTMLElement | null} */ (document.activeElement);
      list.replaceChildren(...mine.map((e) => items.get(e.id).li));
      if (focused && focused !== document.activeElement && list.contains(focused)) focused.focus({ preventScroll: true });
    }
    section.hidden = mine.length === 0;
  }
  const empty = $('#conv-empty');
  if (s.listReady) {
    empty.textContent = 'No conversations yet. Start a direct message or a group, or join a channel.';
    empty.hidden = entries.length > 0;
  }
  const unread = entries.reduce((n, e) => n + e.unread, 0);
  document.title = unread ? `(${unread}) Parley` : 'Parley';
}

/** What the list says of a conversation's last message.
 * @param {Message | null} m */
function lastText(m) {
  if (!m) return 'No messages yet';
  if (m.deleted) return m.removed_by_moderator ? 'Removed by a moderator' : 'Message deleted';
  return m.text || describeAttachments(m.attachments);
}

/** @param {ConversationEntry} e */
function renderEntry(e) {
  let item = items.get(e.id);
  if (!item) {
    const button = h('button', { type: 'button', class: 'conv-item', dataset: { conversationId: e.id } });
    button.addEventListener('click', () => open(e.id));
    item = { li: h('li', {}, button), button };
    items.set(e.id, item);
  }
  const failed = [...state.pending.values()].find((p) => p.conversationId === e.id && p.failed);
  const last = failed ? h('span', { class: 'conv-last failed' }, `Not sent: ${failed.text}`) : h('span', { class: 'conv-last' }, lastText(e.last));
  const parts = [h('span', { class: 'conv-name' }, e.name, presenceDot(e.other)), ' ', last];
  // The counts' words are for screen readers, which read the button's text as its name:
  // "Bob, 3 unread, 1 mention".
  const badges = [];
  if (e.unread > 0) badges.push(h('span', { class: 'vh' }, ', '), h('span', { class: 'badge' }, String(e.unread), h('span', { class: 'vh' }, ' unread')));
  if (e.mentions > 0) {
    badges.push(h('span', { class: 'vh' }, ', '), h('span', { class: 'badge mention-badge' },
      h('span', { 'aria-hidden': 'true' }, `@${e.mentions}`),
      h('span', { class: 'vh' }, `${e.mentions} mention${e.mentions === 1 ? '' : 's'}`)));
  }
  if (badges.length) parts.push(h('span', { class: 'badges' }, ...badges));
  item.button.classList.toggle('unread', e.unread > 0);
  item.button.replaceChildren(...parts);
  if (state.open?.id === e.id) item.button.setAttribute('aria-current', 'true');
  else item.button.removeAttribute('aria-current');
}

/** Puts the focus on a conversation's entry; false when it is not in the list.
 * @param {string | undefined} conversationId */
export function focusEntry(conversationId) {
  const item = conversationId ? items.get(conversationId) : null;
  item?.button.focus();
  return !!item;
}

/** Says why the list could not be read, where the list would be.
 * @param {string} text */
export function showListError(text) {
  const empty = $('#conv-empty');
  empty.textContent = text;
  empty.hidden = false;
}

/** Shows a section (a question, a notice) above the list, which a phone shows too (it hides the
 * conversation pane while none is open).
 * @param {HTMLElement} section */
export function showAboveList(section) {
  $('#conv-list').closest('nav').before(section);
}

subscribe('conversations', () => state && renderList());

subscribe('presence', (userId) => {
  const s = state;
  if (!s) return;
  for (const e of s.conversations.values()) if (e.other === userId && items.has(e.id)) renderEntry(e);
});
