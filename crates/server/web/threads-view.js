// "Threads", at the top of the sidebar (above the conversations' navigation): the threads the user follows (`GET /v1/threads`, newest activity
// first), each with its conversation's name, the root's text, its replies and how many are unread. The
// button carries a badge with the unread replies of them all. Activating a thread opens its conversation
// and its pane. The list is read again whenever a thread gets a reply (`thread.updated`) or is read or
// followed here (the `threads` notice).
import { api } from '/api.js';
import { describeAttachments } from '/attachment-view.js';
import { registerPanel, setPanel } from '/panels.js';
import { publish, state, subscribe } from '/state.js';
import { $, h, shortTime } from '/ui.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').Message} Message */

/** A thread the user follows, as `GET /v1/threads` gives it.
 * @typedef {{conversation_id: string, root: Message, unread_replies: number,
 *   last_read_message_id?: string | null}} ThreadInfo */

/** The threads last read, and the elements of the mounted main screen. */
let threads = /** @type {ThreadInfo[]} */ ([]);
let ui = /** @type {{button: HTMLElement, badge: HTMLElement, panel: HTMLElement, list: HTMLElement,
  empty: HTMLElement} | null} */ (null);
let reloadTimer = 0;
let loadedOnce = false;

/** Makes the "Threads" button and its panel at the top of the sidebar of a freshly mounted main screen. */
export function setupThreadsView() {
  threads = [];
  loadedOnce = false;
  const badge = h('span', { class: 'badges', hidden: true });
  const button = h('button', { type: 'button', id: 'threads-btn', class: 'conv-item threads-btn', 'aria-expanded': 'false', 'aria-controls': 'threads-panel' },
    h('span', { class: 'conv-name' }, 'Threads'), badge);
  const list = h('ul', { class: 'threads-list', 'aria-label': 'Threads you follow' });
  const empty = h('p', { class: 'hint', hidden: true }, 'No threads yet: the threads you start, reply in or follow show here.');
  const panel = h('section', { id: 'threads-panel', class: 'dm-panel threads-panel', 'aria-label': 'Threads', hidden: true }, list, empty);
  // Above the list's navigation, not in it: it is not a conversation.
  $('#conv-list').closest('nav').before(button, panel);
  ui = { button, badge, panel, list, empty };
  registerPanel('threads', { button: '#threads-btn', section: '#threads-panel', open: () => loadThreads({ focus: true }) });
}

/** Reads the threads the user follows and shows them, with the badge. `focus`: then into the list (the panel
 * was just opened).
 * @param {{focus?: boolean}} [options] */
export async function loadThreads({ focus = false } = {}) {
  const s = state;
  if (!s || !ui) return;
  try {
    const answer = await api('GET', '/v1/threads');
    if (state !== s) return;
    threads = answer.threads || [];
    loadedOnce = true;
    render();
    if (focus && s.panel === 'threads') /** @type {HTMLElement | null} */ (ui.list.querySelector('button'))?.focus();
  } catch {
    /* the list stays as it was; the next change reads it again */
  }
}

/** Reads the list again soon: several replies in a burst cost one request. */
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadThreads(), 300);
}

/** What the list says of a root.
 * @param {Message} m */
function snippet(m) {
  if (m.deleted) return 'Message deleted';
  const text = (m.text || describeAttachments(m.attachments)).replace(/\s+/g, ' ').trim();
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

function render() {
  const s = state;
  namesShown = JSON.stringify(threads.map((t) => s.conversations.get(t.conversation_id)?.name ?? '…'));
  const unread = threads.reduce((n, t) => n + (t.unread_replies || 0), 0);
  ui.badge.hidden = unread === 0;
  ui.badge.replaceChildren(h('span', { class: 'vh' }, ', '), h('span', { class: 'badge' }, String(unread), h('span', { class: 'vh' }, ' unread')));
  ui.button.classList.toggle('unread', unread > 0);
  ui.empty.hidden = threads.length > 0;
  ui.list.replaceChildren(...threads.map((t) => {
    const n = t.root.reply_count || 0;
    const where = s.conversations.get(t.conversation_id)?.name ?? '…';
    const parts = [
      h('span', { class: 'thread-item-where' }, where),
      h('span', { class: 'vh' }, ': '),
      h('span', { class: 'thread-item-text' }, snippet(t.root)),
      h('span', { class: 'vh' }, ', '),
      h('span', { class: 'thread-item-count' }, `${n} ${n === 1 ? 'reply' : 'replies'}`,
        t.root.last_reply_at ? ` · last ${shortTime(t.root.last_reply_at)}` : ''),
    ];
    if (t.unread_replies > 0) {
      parts.push(h('span', { class: 'vh' }, ', '), h('span', { class: 'badge thread-item-badge' }, String(t.unread_replies), h('span', { class: 'vh' }, ' unread')));
    }
    const b = h('button', { type: 'button', class: `thread-item${t.unread_replies > 0 ? ' unread' : ''}` }, ...parts);
    b.addEventListener('click', () => {
      setPanel(null);
      publish('open-thread', { conversationId: t.conversation_id, rootId: t.root.id, opener: null });
    });
    return h('li', {}, b);
  }));
}

subscribe('listed', () => {
  if (!loadedOnce) loadThreads();
});

subscribe('event', (f) => {
  if (f.type === 'thread.updated' || f.type === 'conversation.purged') reloadSoon();
});

subscribe('threads', () => state && reloadSoon());

// A conversation's name shows in the list: a new name shows there too (drawn again only then, as this notice
// comes with every message).
let namesShown = '';
subscribe('conversations', () => {
  const s = state;
  if (!s || !ui || !threads.length) return;
  const names = JSON.stringify(threads.map((t) => s.conversations.get(t.conversation_id)?.name ?? '…'));
  if (names !== namesShown) render();
});

