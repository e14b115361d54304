// One message of the log, as an <article>: its author, avatar and time (or, when it continues its author's
// group, its text alone, with the time shown on hover and focus), its text, the message actions (the "React"
// and "Delete" toolbars, shown on hover and focus), its reactions, and the read markers of those who read up
// to it. Also the article of a send still pending, and what it shows once refused. In a read-only
// conversation (an archived channel) it offers none of the writes the server refuses there: no "React", no
// "Reply in thread", reactions shown but not toggled, and the tools' modules leave out theirs.
import { renderAttachments } from '/attachment-view.js';
import { avatar } from '/avatars.js';
import { moderates } from '/channel-settings.js';
import { isReadOnly } from '/conversations.js';
import { deleteMessage, toggleReaction } from '/message-actions.js';
import { renderMessageText } from '/message-text.js';
import { quoteCard } from '/quote-card.js';
import { publish, state } from '/state.js';
import { clockTime, fullTime, h, roving, shortTime } from '/ui.js';
import { displayName, getUser } from '/users.js';

/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').PendingSend} PendingSend */
/** @typedef {import('/state.js').User} User */

/** How a message shows in the log: `continues` when it follows its author's previous message closely (the
 * log decides), and so shows no name or avatar of its own.
 * @typedef {{continues: boolean}} MessageLayout */

/** Buttons a feature module adds to a message's "Message tools" toolbar (Edit, Pin, Copy link, …): each
 * gives the buttons for a message (none, if it does not apply, or if it writes and the conversation is read-only:
 * `isReadOnly`), each with a `data-key` to keep the focus.
 * @typedef {(art: HTMLElement, m: Message) => HTMLElement[]} ToolBuilder */
/** @type {ToolBuilder[]} */
const toolBuilders = [];
/** What feature modules do to a filled article (a marker, an editor in place of the text).
 * @type {((art: HTMLElement, m: Message) => void)[]} */
const fillHooks = [];

/** Adds buttons to the "Message tools" toolbar of every message filled from now on. Called once, when the
 * feature's module loads.
 * @param {ToolBuilder} build */
export function registerMessageTool(build) {
  toolBuilders.push(build);
}

/** Calls `fn` after every article is filled from a stored message, before the focus is put back.
 * @param {(art: HTMLElement, m: Message) => void} fn */
export function onArticleFilled(fn) {
  fillHooks.push(fn);
}

/** The message each article shows now, and how. */
const shown = /** @type {WeakMap<HTMLElement, Message>} */ (new WeakMap());
const layouts = /** @type {WeakMap<HTMLElement, MessageLayout>} */ (new WeakMap());

/** The message an article shows, if it shows a stored one.
 * @param {HTMLElement} art */
export const messageOf = (art) => shown.get(art);

/** How an article is laid out now.
 * @param {HTMLElement} art
 * @returns {MessageLayout} */
export const layoutOf = (art) => layouts.get(art) || { continues: false };

/** A new, empty article for a stored message (fillArticle fills it). Focusable, not a Tab stop: the arrow
 * keys move between messages (message-log.js). */
export const newArticle = () => h('article', { class: 'msg', tabindex: '-1' });

/**
 * The article's header. A message that continues its author's group shows no name or avatar, but keeps the
 * name for screen readers (each message says who wrote it) and its time for hover and focus. A deactivated
 * author's name says so ("(deactivated)").
 * @param {string} authorId
 * @param {string} name
 * @param {MessageLayout} layout
 * @param {Node | null} when the time (null while pending)
 */
function header(authorId, name, layout, when) {
  const known = state.users.get(authorId);
  const author = known || { id: authorId, name };
  return h('header', { class: 'msg-head' },
    layout.continues ? null : avatar(author, 'avatar-md'),
    h('span', { class: layout.continues ? 'author vh' : 'author' }, known ? displayName(known) : name),
    ' ',
    when);
}

/**
 * Fills an article from a stored message, laid out as `layout` (by default, as it was); synchronous, so an
 * upsert cannot interleave with another. Keeps the keyboard focus on the button that had it (a reaction
 * toggled, say).
 * @param {HTMLElement} art
 * @param {Message} m
 * @param {MessageLayout} [layout]
 */
export function fillArticle(art, m, layout = layoutOf(art)) {
  shown.set(art, m);
  layouts.set(art, layout);
  const s = state;
  const author = s.names.get(m.author_id);
  if (author === undefined) {
    // Not known yet (a new member, say): shown once it is, unless the article was refilled since.
    getUser(m.author_id).then((u) => {
      if (shown.get(art) !== m) return;
      art.querySelector('.author').textContent = displayName(u);
      art.querySelector('.msg-head .avatar')?.replaceWith(avatar(u, 'avatar-md'));
    });
  }
  art.dataset.state = 'sent';
  art.dataset.messageId = m.id;
  art.classList.toggle('mine', m.author_id === s.me.id);
  art.classList.toggle('deleted', !!m.deleted);
  art.classList.toggle('continues', layout.continues);
  const active = /** @type {HTMLElement} */ (document.activeElement);
  const focused = art.contains(active) ? active.dataset.key : null;
  const readBy = h('div', { class: 'read-by' });
  const o = s.open;
  if (o && o.byId.get(m.id) === art) fillReaders(readBy, o.markAt.get(m.id));
  const context = { conversationId: m.conversation_id, authorId: m.author_id, messageId: m.id, pending: false };
  // The actions come after the text (a screen reader reads the message first), before the reactions (the Tab
  // order goes top to bottom: the actions float at the article's top).
  const parts = [
    header(m.author_id, author ?? '…', layout, h('time', { datetime: m.created_at, title: fullTime(m.created_at) }, clockTime(m.created_at))),
    m.quote && !m.deleted ? quoteCard(m.quote) : null,
    h('div', { class: 'text' }, m.deleted ? tombstoneText(m) : renderMessageText(m.text ?? '', context)),
    m.deleted ? null : renderAttachments(m.attachments, { sentAt: m.created_at }),
    messageActions(art, m),
    reactionCounts(art, m),
    threadLink(art, m),
    readBy,
  ];
  art.replaceChildren(...parts.filter((part) => part));
  for (const fn of fillHooks) fn(art, m);
  if (focused) {
    const again = /** @type {HTMLElement | null} */ (art.querySelector(`[data-key="${CSS.escape(focused)}"]`));
    if (again) again.focus({ preventScroll: true });
    else /** @type {HTMLElement | null} */ (art.closest('#log'))?.focus({ preventScroll: true });
  }
}

/** What a message deleted for everyone says in place of its text: a channel's moderator (or an administrator)
 * removing someone else's message is told apart from its author deleting it.
 * @param {Message} m */
export const tombstoneText = (m) => (m.removed_by_moderator ? 'Removed by a moderator.' : 'This message was deleted.');

/** The reactions offered: [emoji as the API names it, the button's name, what it shows]. */
const REACTIONS = [
  ['like', 'Like', '👍'],
  ['🎉', 'React with 🎉', '🎉'],
  ['❤️', 'React with ❤️', '❤️'],
  ['😂', 'React with 😂', '😂'],
];
const emojiShown = (/** @type {string} */ emoji) => (emoji === 'like' ? '👍' : emoji);
const emojiName = (/** @type {string} */ emoji) => (emoji === 'like' ? 'Like' : emoji);

/** Toggles reaction `emoji` on the message the article shows when clicked.
 * @param {HTMLElement} art
 * @param {string} emoji
 * @param {HTMLElement} button */
const toggle = (art, emoji, button) => () => toggleReaction(shown.get(art), emoji, button);

/** The reactions of a stored message with their counts, each a toggle; null when it has none. In a read-only
 * conversation they are shown, not toggled: marked aria-disabled (which keeps them in reach of the keyboard and
 * a screen reader, with their counts and whether the user is among them), with no handler.
 * @param {HTMLElement} art
 * @param {Message} m
 * @returns {HTMLElement | null} */
function reactionCounts(art, m) {
  const me = state.me.id;
  const reactions = m.deleted ? [] : (m.reactions || []).filter((r) => r.user_ids?.length);
  if (!reactions.length) return null;
  const readOnly = isReadOnly(m.conversation_id);
  const counts = h('div', { class: 'reactions', role: 'toolbar', 'aria-label': 'Reactions' }, ...reactions.map((r) => {
    const mine = r.user_ids.includes(me);
    const b = h('button', {
      type: 'button',
      class: 'reaction',
      'aria-pressed': String(mine),
      'aria-label': `${emojiName(r.emoji)} ${r.user_ids.length}`,
      dataset: { key: `count:${r.emoji}`, emoji: r.emoji },
      'aria-disabled': readOnly ? 'true' : null,
    }, h('span', { 'aria-hidden': 'true' }, emojiShown(r.emoji)), ' ', h('span', { class: 'count' }, String(r.user_ids.length)));
    if (!readOnly) b.addEventListener('click', toggle(art, r.emoji, b));
    return b;
  }));
  roving(counts);
  return counts;
}

/** The message actions: the "React" toolbar (not in a read-only conversation), the "Reply" one, the "Delete"
 * one (for everyone on one's own messages, and on others' in a channel the user moderates; for me on any) and
 * the "Message tools". A group of toolbars, one Tab stop each, shown on hover and when the message has the focus.
 * @param {HTMLElement} art
 * @param {Message} m
 * @returns {HTMLElement} */
function messageActions(art, m) {
  const me = state.me.id;
  const group = h('div', { class: 'msg-actions', role: 'group', 'aria-label': 'Message actions' });
  if (!m.deleted && !isReadOnly(m.conversation_id)) {
    const reactions = m.reactions || [];
    const bar = h('div', { class: 'react', role: 'toolbar', 'aria-label': 'React' }, ...REACTIONS.map(([emoji, label, face]) => {
      const mine = reactions.some((r) => r.emoji === emoji && r.user_ids.includes(me));
      const b = h('button', { type: 'button', 'aria-pressed': String(mine), 'aria-label': label, title: label, dataset: { key: `react:${emoji}` } }, face);
      b.addEventListener('click', toggle(art, emoji, b));
      return b;
    }));
    roving(bar);
    group.append(bar);
  }
  const replies = replyActions(art, m);
  if (replies) group.append(replies);
  const deletes = h('div', { class: 'msg-delete', role: 'toolbar', 'aria-label': 'Delete' },
    !m.deleted && m.author_id === me ? deleteButton(art, 'everyone', 'Delete for everyone')
      : removable(m) ? deleteButton(art, 'everyone', 'Remove as moderator') : null,
    deleteButton(art, 'me', 'Delete for me'));
  roving(deletes);
  group.append(deletes);
  const tools = m.deleted ? [] : toolBuilders.flatMap((build) => build(art, m));
  if (tools.length) {
    const bar = h('div', { class: 'msg-tools', role: 'toolbar', 'aria-label': 'Message tools' }, ...tools);
    roving(bar);
    group.append(bar);
  }
  return group;
}

/** Whether the user may remove someone else's message `m` for everyone: as a moderator of its channel, while
 * the channel is not archived. It then shows "Removed by a moderator." to everyone.
 * @param {Message} m */
function removable(m) {
  const conv = state.conversations.get(m.conversation_id)?.conv;
  return !m.deleted && m.author_id !== state.me.id && !!conv && moderates(conv) && !conv.archived;
}

/** Whether an article shows a message in the thread pane (its root, or a reply), not in the main log.
 * @param {HTMLElement} art */
const inThreadPane = (art) => art.dataset.place === 'thread';

/** The "Reply" toolbar: "Reply in thread" on a message of the main log that is not itself a reply, unless the
 * conversation is read-only (a thread with replies still opens from the summary under its root, to read), and
 * "Reply privately" on someone else's message in a channel or a group (it writes in a DM); null when there is
 * nothing to offer.
 * @param {HTMLElement} art
 * @param {Message} m
 * @returns {HTMLElement | null} */
function replyActions(art, m) {
  if (m.deleted) return null;
  const buttons = [];
  if (!m.thread_root_id && !inThreadPane(art) && !isReadOnly(m.conversation_id)) {
    const b = h('button', { type: 'button', dataset: { key: 'reply:thread' } }, 'Reply in thread');
    b.addEventListener('click', () => publish('open-thread', { conversationId: m.conversation_id, rootId: m.id, opener: b }));
    buttons.push(b);
  }
  const kind = state.conversations.get(m.conversation_id)?.conv.kind;
  if (m.author_id !== state.me.id && (kind === 'channel' || kind === 'group')) {
    const b = h('button', { type: 'button', dataset: { key: 'reply:private' } }, 'Reply privately');
    b.addEventListener('click', () => publish('reply-privately', m));
    buttons.push(b);
  }
  if (!buttons.length) return null;
  const bar = h('div', { class: 'msg-reply', role: 'toolbar', 'aria-label': 'Reply' }, ...buttons);
  roving(bar);
  return bar;
}

/** Under a thread's root in the main log, "3 replies · last reply 14:05" with the first repliers' avatars, a
 * button that opens the thread; under a reply also sent to the conversation, "Replied in a thread". Null
 * otherwise, and in the thread pane.
 * @param {HTMLElement} art
 * @param {Message} m
 * @returns {HTMLElement | null} */
function threadLink(art, m) {
  if (inThreadPane(art)) return null;
  const open = (/** @type {HTMLElement} */ b, /** @type {string} */ rootId) =>
    b.addEventListener('click', () => publish('open-thread', { conversationId: m.conversation_id, rootId, opener: b }));
  if (m.thread_root_id) {
    const b = h('button', { type: 'button', class: 'link thread-link', dataset: { key: 'thread:root' } }, 'Replied in a thread');
    open(b, m.thread_root_id);
    return h('p', { class: 'thread-summary' }, b);
  }
  const n = m.reply_count || 0;
  if (!n || m.deleted) return null;
  const faces = (m.repliers || []).map((id) => {
    const face = avatar(state.users.get(id) || { id, name: state.names.get(id) || '' }, 'avatar-xs');
    if (!state.users.has(id)) getUser(id).then((u) => face.isConnected && face.replaceWith(avatar(u, 'avatar-xs')));
    return face;
  });
  const when = m.last_reply_at ? ` · last reply ${shortTime(m.last_reply_at)}` : '';
  const b = h('button', { type: 'button', class: 'thread-open', dataset: { key: 'thread:open' } },
    h('span', { class: 'thread-faces' }, ...faces),
    h('span', { class: 'thread-n' }, `${n} ${n === 1 ? 'reply' : 'replies'}`),
    h('span', { class: 'thread-when' }, when));
  open(b, m.id);
  return h('p', { class: 'thread-summary' }, b);
}

/** @param {HTMLElement} art
 * @param {'everyone' | 'me'} scope
 * @param {string} label */
function deleteButton(art, scope, label) {
  const b = h('button', { type: 'button', class: 'danger', dataset: { key: `delete:${scope}` } }, label);
  b.addEventListener('click', () => deleteMessage(shown.get(art), scope, b));
  return b;
}

/** Shows, after a message, the markers of the members who have read up to it. Redraws only when they changed.
 * @param {HTMLElement} art
 * @param {string[] | undefined} userIds */
export function setReaders(art, userIds) {
  const box = /** @type {HTMLElement | null} */ (art.querySelector(':scope > .read-by'));
  if (box) fillReaders(box, userIds);
}

/** @param {HTMLElement} box
 * @param {string[] | undefined} userIds */
function fillReaders(box, userIds) {
  const s = state;
  const readers = (userIds || []).map((id) => s.users.get(id) || { id, name: s.names.get(id) || '…' });
  // The names and avatars are in the key: a reader who renames redraws the markers.
  const key = JSON.stringify(readers.map((u) => [u.id, u.name, u.avatar_url ?? null]));
  if (box.dataset.readers === key) return;
  box.dataset.readers = key;
  box.replaceChildren(...readers.map((u) => {
    const mark = avatar(u, 'avatar-xs');
    mark.removeAttribute('aria-hidden');
    mark.setAttribute('role', 'img');
    mark.setAttribute('aria-label', `Read by ${u.name}`);
    mark.title = `Read by ${u.name}`;
    mark.classList.add('read-mark');
    return mark;
  }));
}

/** The article of a send not acknowledged yet: "Sending…" under its text (or why it was refused, with
 * `markFailed`).
 * @param {PendingSend} p
 * @param {MessageLayout} layout
 * @returns {HTMLElement} */
export function pendingArticle(p, layout) {
  const me = state.me;
  const context = { conversationId: p.conversationId, authorId: me.id, messageId: null, pending: true };
  const art = h('article', { class: `msg mine${layout.continues ? ' continues' : ''}`, tabindex: '-1', dataset: { state: 'pending', nonce: p.nonce } },
    header(me.id, me.name, layout, null),
    h('div', { class: 'text' }, renderMessageText(p.text, context)),
    renderAttachments(p.files, { pending: true }),
    h('p', { class: 'status' }, 'Sending…'));
  layouts.set(art, layout);
  return art;
}

/** A pending send's article shows that it was refused, why, and a Retry button.
 * @param {HTMLElement} art
 * @param {string} reason
 * @param {() => void} onRetry */
export function markFailed(art, reason, onRetry) {
  art.dataset.state = 'failed';
  const retry = h('button', { type: 'button', class: 'link' }, 'Retry');
  retry.addEventListener('click', onRetry);
  art.querySelector('.status').replaceChildren(`Not sent: ${reason} `, retry);
}

/** A refused send's article shows it is being sent again.
 * @param {HTMLElement} art */
export function markSending(art) {
  art.dataset.state = 'pending';
  art.querySelector('.status').textContent = 'Sending…';
}
