// The thread pane (`#thread`, a complementary region beside the open conversation): a thread's root, its
// replies (paged like the log: the newest page first, older ones on scrolling up or "Load earlier replies")
// and a composer of its own, which sends with `thread_root_id` (and `also_to_conversation` when "Also send to
// conversation" is ticked). Replies arrive live through the `reply` notice; `thread.updated` moves the
// root's counters, here and under the root in the main log. Opening the pane, and every reply shown while it
// is open, moves the thread's read checkpoint. "Follow" and "Unfollow" in its header. Escape or "Close
// thread" closes it, and so does opening another conversation. In a read-only conversation (an archived
// channel) the thread is there to read: no composer, and its messages offer no writes (message.js), live as
// the channel is archived or brought back.
import { api } from '/api.js';
import { focusComposer } from '/composer.js';
import { openConversation } from '/conversation.js';
import { isReadOnly } from '/conversations.js';
import { PAGE, showMessages } from '/message-log.js';
import { fillArticle, markFailed, markSending, newArticle, pendingArticle } from '/message.js';
import { publish, state, subscribe } from '/state.js';
import { $, cmpId, h, isBusy, NARROW, setBusy, uuid } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').PendingSend} PendingSend */

/**
 * The open thread. Its stored replies are `ids` (in order) and `data`, each with its article in `byId`; our
 * replies not acknowledged yet are in `pending` by nonce. `following` is null until known; `readOnly` is
 * whether the pane was last shown for a read-only conversation (null before it first shows).
 * @typedef {{s: AppState, conversationId: string, rootId: string, root: Message | null, ids: string[],
 *   data: Map<string, Message>, byId: Map<string, HTMLElement>,
 *   pending: Map<string, {p: PendingSend, art: HTMLElement}>, atStart: boolean, loading: boolean,
 *   readSent: string | null, following: boolean | null, opener: HTMLElement | null,
 *   readOnly: boolean | null}} ThreadView
 */

/** @type {ThreadView | null} */
let view = null;

/** The pane's elements, made once per main screen by setupThreadPane. */
let ui = /** @type {{pane: HTMLElement, title: HTMLElement, where: HTMLElement, follow: HTMLElement,
  body: HTMLElement, root: HTMLElement, count: HTMLElement, earlier: HTMLElement, replies: HTMLElement,
  note: HTMLElement, form: HTMLFormElement, text: HTMLTextAreaElement, also: HTMLInputElement} | null} */ (null);

/** Makes the pane of a freshly mounted main screen (hidden until a thread opens). */
export function setupThreadPane() {
  view = null;
  const title = h('h2', { id: 'thread-title', tabindex: '-1' }, 'Thread');
  const where = h('p', { class: 'thread-where' });
  const follow = h('button', { type: 'button', class: 'thread-follow', hidden: true }, 'Follow');
  const close = h('button', { type: 'button', class: 'thread-close', 'aria-label': 'Close thread', title: 'Close thread' }, '×');
  const root = h('div', { class: 'thread-root' });
  const count = h('p', { class: 'thread-count', role: 'separator' });
  const earlier = h('button', { type: 'button', class: 'link thread-earlier', hidden: true }, 'Load earlier replies');
  const replies = h('div', { class: 'thread-replies', role: 'log', 'aria-label': 'Replies' });
  const note = h('p', { class: 'log-note', hidden: true });
  const body = h('div', { class: 'thread-body' }, root, count, earlier, replies, note);
  const text = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'thread-msg', rows: '1', placeholder: 'Reply in thread' }));
  const also = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'thread-also' }));
  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'composer thread-composer', 'aria-label': 'Reply' },
    h('label', { for: 'thread-msg', class: 'vh' }, 'Reply'),
    text,
    h('button', { type: 'submit', class: 'primary' }, 'Send'),
    h('label', { class: 'thread-also', for: 'thread-also' }, also, ' Also send to conversation')));
  const pane = h('aside', { id: 'thread', class: 'thread-pane', 'aria-labelledby': 'thread-title', hidden: true },
    h('div', { class: 'thread-head' }, h('div', { class: 'thread-heading' }, title, where), follow, close),
    body,
    form);
  $('#shell').append(pane);
  ui = { pane, title, where, follow, body, root, count, earlier, replies, note, form, text, also };

  close.addEventListener('click', () => closeThread({ refocus: true }));
  pane.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape' || ev.isComposing) return;
    ev.preventDefault();
    closeThread({ refocus: true });
  });
  follow.addEventListener('click', toggleFollow);
  earlier.addEventListener('click', () => view && loadEarlier(view));
  body.addEventListener('scroll', () => {
    if (view && body.scrollTop < 200) loadEarlier(view);
  }, { passive: true });
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      sendReply();
    }
  });
  text.addEventListener('input', grow);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendReply();
  });
}

/** The box grows with the text, up to a third of the window. */
function grow() {
  const ta = ui.text;
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight + 2, Math.round(window.innerHeight * 0.33))}px`;
}

/** Whether the replies are scrolled to their end (or nearly). */
const atBottom = () => ui.body.scrollHeight - ui.body.scrollTop - ui.body.clientHeight < 80;

/** The id of the open thread's root, or null (for other modules' tests of what is open).
 * @returns {{conversationId: string, rootId: string} | null} */
export function openThreadId() {
  return view && { conversationId: view.conversationId, rootId: view.rootId };
}

/**
 * Opens the thread of `rootId` in the pane: the root, the newest page of replies, the thread's composer
 * focused (the heading on a phone). The conversation opens first when another one is open.
 * @param {string} conversationId
 * @param {string} rootId
 * @param {HTMLElement | null} [opener] where the focus goes back when the pane closes
 */
export async function openThread(conversationId, rootId, opener = null) {
  const s = state;
  if (s.open?.id !== conversationId) {
    if (!s.conversations.has(conversationId)) return;
    openConversation(conversationId); // sets the open conversation before its first await
  }
  if (view && view.conversationId === conversationId && view.rootId === rootId) {
    focusPane();
    return;
  }
  /** @type {ThreadView} */
  const v = {
    s, conversationId, rootId, root: null, ids: [], data: new Map(), byId: new Map(), pending: new Map(),
    atStart: false, loading: false, readSent: null, following: null, opener, readOnly: null,
  };
  view = v;
  ui.root.replaceChildren();
  ui.replies.replaceChildren();
  ui.count.textContent = '';
  ui.earlier.hidden = true;
  ui.note.hidden = true;
  ui.follow.hidden = true;
  ui.text.value = '';
  ui.also.checked = false;
  grow();
  ui.where.textContent = `in ${s.conversations.get(conversationId)?.name ?? ''}`;
  ui.pane.hidden = false;
  syncWritable();
  $('#shell').classList.add('has-thread');
  ui.body.setAttribute('aria-busy', 'true');
  focusPane();
  try {
    const [root, page] = await Promise.all([
      api('GET', `/v1/conversations/${conversationId}/messages/${rootId}`),
      api('GET', `/v1/conversations/${conversationId}/messages/${rootId}/thread?limit=${PAGE}`),
    ]);
    if (view !== v) return;
    await getUser(root.author_id);
    if (view !== v) return;
    showRoot(v, root);
    v.atStart = page.messages.length < PAGE;
    await showReplies(v, page.messages);
    if (view !== v) return;
    ui.body.scrollTop = ui.body.scrollHeight;
    markThreadRead(v);
  } catch (err) {
    if (view !== v || err.status === 401) return;
    ui.note.textContent = err.status === 404 ? 'This thread is unavailable.' : `Could not load the thread: ${err.message}`;
    ui.note.hidden = false;
  } finally {
    if (view === v) ui.body.removeAttribute('aria-busy');
  }
  loadFollowing(v);
}

/** The focus goes into the pane: its composer, or its heading on a phone (where a keyboard would cover it) or
 * when it has no composer (a read-only conversation). */
function focusPane() {
  if (NARROW.matches || ui.form.hidden) ui.title.focus({ preventScroll: true });
  else ui.text.focus({ preventScroll: true });
}

/**
 * Closes the pane. `refocus`: the focus goes back where the pane was opened from, or to the conversation's
 * composer when that is gone.
 * @param {{refocus?: boolean}} [options]
 */
export function closeThread({ refocus = false } = {}) {
  const v = view;
  if (!v || !ui) return;
  view = null;
  ui.pane.hidden = true;
  ui.root.replaceChildren();
  ui.replies.replaceChildren();
  $('#shell').classList.remove('has-thread');
  if (!refocus) return;
  // The summary under the root is drawn again as replies come: the focus goes to the one shown now.
  const root = state?.open?.id === v.conversationId ? state.open.byId.get(v.rootId) : null;
  const again = v.opener && !v.opener.isConnected && v.opener.dataset.key
    ? /** @type {HTMLElement | null} */ (root?.querySelector(`[data-key="${v.opener.dataset.key}"]`)) : null;
  if (v.opener?.isConnected) v.opener.focus();
  else if (again) again.focus();
  else if (state?.open) focusComposer();
}

/** The root's article, and the count of replies under it.
 * @param {ThreadView} v
 * @param {Message} root */
function showRoot(v, root) {
  v.root = root;
  let art = /** @type {HTMLElement | null} */ (ui.root.firstElementChild);
  if (!art) {
    art = newArticle();
    art.dataset.place = 'thread';
    ui.root.append(art);
  }
  fillArticle(art, root, { continues: false });
  const n = root.reply_count || 0;
  ui.count.textContent = n ? `${n} ${n === 1 ? 'reply' : 'replies'}` : 'No replies yet';
  ui.count.setAttribute('aria-label', ui.count.textContent);
}

/** Where `id` goes in the sorted `ids`.
 * @param {string[]} ids
 * @param {string} id */
function insertIndex(ids, id) {
  let i = ids.length;
  while (i > 0 && cmpId(ids[i - 1], id) > 0) i--;
  return i;
}

/**
 * Upserts stored replies into the open thread, keyed by id (and by nonce for our pending ones). `older`: a
 * page from before those loaded, kept in place on screen.
 * @param {ThreadView} v
 * @param {Message[]} messages
 * @param {{older?: boolean}} [options]
 */
async function showReplies(v, messages, { older = false } = {}) {
  await Promise.all([...new Set(messages.map((m) => m.author_id))].map(getUser));
  if (view !== v) return;
  const stick = atBottom();
  const heightBefore = ui.body.scrollHeight;
  let mine = false;
  for (const m of messages) {
    if (v.data.has(m.id)) {
      v.data.set(m.id, m);
      fillArticle(v.byId.get(m.id), m, { continues: false });
      continue;
    }
    let art = null;
    const pending = m.nonce ? v.pending.get(m.nonce) : null;
    if (pending) {
      v.pending.delete(m.nonce);
      art = pending.art;
      mine = true;
    } else {
      art = newArticle();
      art.dataset.place = 'thread';
    }
    const i = insertIndex(v.ids, m.id);
    const next = i < v.ids.length ? v.byId.get(v.ids[i]) : firstPending(v);
    v.ids.splice(i, 0, m.id);
    v.data.set(m.id, m);
    v.byId.set(m.id, art);
    ui.replies.insertBefore(art, next);
    fillArticle(art, m, { continues: false });
  }
  ui.earlier.hidden = v.atStart || !v.ids.length;
  if (older) ui.body.scrollTop += ui.body.scrollHeight - heightBefore;
  else if (stick || mine) ui.body.scrollTop = ui.body.scrollHeight;
}

/** The first of our replies still pending (they follow the stored ones), or null.
 * @param {ThreadView} v */
function firstPending(v) {
  for (const { art } of v.pending.values()) if (art.isConnected) return art;
  return null;
}

/** Loads the page of replies before the oldest one loaded.
 * @param {ThreadView} v */
async function loadEarlier(v) {
  if (v.loading || v.atStart || !v.ids.length) return;
  v.loading = true;
  setBusy(ui.earlier, true);
  try {
    const { messages } = await api('GET', `/v1/conversations/${v.conversationId}/messages/${v.rootId}/thread?before=${v.ids[0]}&limit=${PAGE}`);
    if (view !== v) return;
    if (messages.length < PAGE) v.atStart = true;
    await showReplies(v, messages, { older: true });
  } catch {
    /* "Load earlier replies" stays, to try again */
  } finally {
    v.loading = false;
    setBusy(ui.earlier, false);
  }
}

/** Moves the thread's read checkpoint to its newest reply, when the pane shows it and the page is seen.
 * @param {ThreadView} v */
async function markThreadRead(v) {
  const newest = v.ids[v.ids.length - 1];
  if (view !== v || document.hidden || !newest || (v.readSent && cmpId(newest, v.readSent) <= 0)) return;
  v.readSent = newest;
  try {
    await api('POST', `/v1/conversations/${v.conversationId}/messages/${v.rootId}/thread/read`, { message_id: newest });
    if (state === v.s) publish('threads');
  } catch {
    if (v.readSent === newest) v.readSent = null; // the next reply, or opening the pane again, tries again
  }
}

/** Whether the user follows the thread, from the threads they follow.
 * @param {ThreadView} v */
async function loadFollowing(v) {
  try {
    const { threads } = await api('GET', '/v1/threads');
    if (view !== v) return;
    if (v.following === null) {
      v.following = threads.some((/** @type {any} */ t) => t.conversation_id === v.conversationId && t.root?.id === v.rootId);
    }
    showFollowing(v);
  } catch {
    /* the button stays hidden */
  }
}

/** @param {ThreadView} v */
function showFollowing(v) {
  if (view !== v || v.following === null) return;
  ui.follow.hidden = false;
  ui.follow.textContent = v.following ? 'Unfollow' : 'Follow';
}

async function toggleFollow() {
  const v = view;
  const button = ui.follow;
  if (!v || v.following === null || isBusy(button)) return;
  setBusy(button, true);
  const follow = !v.following;
  try {
    await api(follow ? 'PUT' : 'DELETE', `/v1/conversations/${v.conversationId}/messages/${v.rootId}/follow`);
    v.following = follow;
    showFollowing(v);
    if (state === v.s) publish('threads');
  } catch {
    /* it stays as it was */
  } finally {
    setBusy(button, false);
  }
}

/** Sends the thread composer's text as a reply; it shows as pending at the end of the replies. */
function sendReply() {
  const v = view;
  const text = ui.text.value;
  if (!v || !text.trim() || text.length > 10000) return;
  const extra = { thread_root_id: v.rootId, ...(ui.also.checked ? { also_to_conversation: true } : {}) };
  /** @type {PendingSend} */
  const p = { nonce: uuid(), conversationId: v.conversationId, text, ref: null, sentAt: Date.now(), extra };
  const art = pendingArticle(p, { continues: false });
  art.dataset.place = 'thread';
  v.pending.set(p.nonce, { p, art });
  ui.replies.append(art);
  ui.body.scrollTop = ui.body.scrollHeight;
  p.ref = v.s.rt.send({ op: 'send', conversation_id: v.conversationId, text, nonce: p.nonce, ...extra });
  ui.text.value = '';
  ui.also.checked = false;
  grow();
  ui.text.focus();
}

/** A reaction added or taken back, on a message of the open thread.
 * @param {ThreadView} v
 * @param {string} messageId
 * @param {string} emoji
 * @param {string} userId
 * @param {boolean} added */
function react(v, messageId, emoji, userId, added) {
  const m = v.root?.id === messageId ? v.root : v.data.get(messageId);
  if (!m) return;
  const reactions = (m.reactions || []).map((r) => ({ emoji: r.emoji, user_ids: r.user_ids.filter((id) => id !== userId) }));
  if (added) {
    const r = reactions.find((x) => x.emoji === emoji);
    if (r) r.user_ids.push(userId);
    else reactions.push({ emoji, user_ids: [userId] });
  }
  replace(v, { ...m, reactions: reactions.filter((x) => x.user_ids.length) });
}

/** Shows a message of the open thread (its root or a reply) as it is now.
 * @param {ThreadView} v
 * @param {Message} m */
function replace(v, m) {
  if (v.root?.id === m.id) showRoot(v, m);
  else if (v.data.has(m.id)) {
    v.data.set(m.id, m);
    fillArticle(v.byId.get(m.id), m, { continues: false });
  }
}

// --- what others tell the pane ---------------------------------------------------------------------------------

subscribe('open-thread', ({ conversationId, rootId, opener }) => state && openThread(conversationId, rootId, opener));

subscribe('reply', (m) => {
  const v = view;
  if (!v || m.conversation_id !== v.conversationId || m.thread_root_id !== v.rootId) return;
  if (m.author_id === v.s.me.id && v.following === false) {
    v.following = true; // replying follows the thread
    showFollowing(v);
  }
  showReplies(v, [m]).then(() => markThreadRead(v));
});

subscribe('refused', ({ ref, code, message }) => {
  const v = view;
  const entry = v && [...v.pending.values()].find(({ p }) => p.ref === ref);
  if (!entry) return;
  const { p, art } = entry;
  p.failed = code === 'rate_limited' ? 'you are sending too fast; wait a moment.' : message || code;
  markFailed(art, p.failed, () => {
    if (view !== v) return;
    markSending(art);
    p.failed = null;
    p.ref = v.s.rt.send({ op: 'send', conversation_id: p.conversationId, text: p.text, nonce: p.nonce, ...p.extra });
  });
});

subscribe('event', (f) => {
  const s = state;
  if (!s) return;
  const v = view?.conversationId === f.conversation_id ? view : null;
  switch (f.type) {
    case 'thread.updated': {
      const counters = { reply_count: f.reply_count, last_reply_at: f.last_reply_at, repliers: f.repliers };
      // Under the root in the main log: "N replies · last reply TIME".
      const o = s.open?.id === f.conversation_id ? s.open : null;
      const m = o?.data.get(f.root_id);
      if (m) showMessages(o, [{ ...m, ...counters }]);
      if (v && v.root?.id === f.root_id) showRoot(v, { ...v.root, ...counters });
      break;
    }
    case 'message.deleted': {
      const m = v && (v.root?.id === f.message_id ? v.root : v.data.get(f.message_id));
      if (m) replace(v, { ...m, text: undefined, deleted: true, reactions: [], removed_by_moderator: !!f.removed_by_moderator });
      break;
    }
    case 'message.updated':
      if (v) replace(v, f.message);
      break;
    case 'conversation.purged':
      if (v) purge(v, f.through);
      break;
    case 'reaction.added':
    case 'reaction.removed':
      if (v) react(v, f.message_id, f.emoji, f.user_id, f.type === 'reaction.added');
      break;
    default:
      break;
  }
});

/** Takes a reply out of the pane.
 * @param {ThreadView} v
 * @param {string} id */
function dropReply(v, id) {
  v.byId.get(id)?.remove();
  v.byId.delete(id);
  v.data.delete(id);
  v.ids.splice(v.ids.indexOf(id), 1);
}

/** The retention purge deleted the conversation's messages up to `through`: the pane drops those replies,
 * and the root shows erased when it is among them (the server keeps it while replies go on). A thread left
 * with neither closes.
 * @param {ThreadView} v
 * @param {string} through */
function purge(v, through) {
  for (const id of v.ids.filter((id) => cmpId(id, through) <= 0)) dropReply(v, id);
  if (!v.root || cmpId(v.root.id, through) > 0) return;
  if (v.ids.length || v.pending.size) replace(v, { ...v.root, text: undefined, deleted: true, reactions: [] });
  else closeThread({ refocus: true });
}

// Our own reactions and deletions, answered.
subscribe('reaction', ({ conversationId, messageId, emoji, userId, added }) => {
  if (view?.conversationId === conversationId) react(view, messageId, emoji, userId, added);
});

subscribe('deleted', ({ conversationId, messageId, scope }) => {
  const v = view?.conversationId === conversationId ? view : null;
  if (!v) return;
  const m = v.root?.id === messageId ? v.root : v.data.get(messageId);
  if (!m) return;
  if (scope === 'everyone') return replace(v, { ...m, text: undefined, deleted: true, reactions: [] });
  if (m === v.root) return closeThread({ refocus: true });
  dropReply(v, messageId);
});

/** A read-only conversation (an archived channel) takes no replies: the thread's composer is hidden (its draft
 * kept) while it is read-only, and the focus, if it was in it, goes to the pane's heading. When that changes,
 * the root and the replies are drawn again, with the actions the server takes now. */
function syncWritable() {
  const v = view;
  if (!v || !ui) return;
  const readOnly = isReadOnly(v.conversationId);
  if (v.readOnly === readOnly) return;
  const hadFocus = ui.form.contains(document.activeElement);
  ui.form.hidden = readOnly;
  if (readOnly && hadFocus) ui.title.focus();
  const first = v.readOnly === null;
  v.readOnly = readOnly;
  if (first) return;
  if (v.root) showRoot(v, v.root);
  for (const id of v.ids) fillArticle(v.byId.get(id), v.data.get(id), { continues: false });
}

// Another conversation opened, or this one closed or left: the thread goes with it. The channel archived or
// brought back: the composer and the messages' actions follow.
subscribe('conversations', () => {
  if (view && state?.open?.id !== view.conversationId) closeThread();
  syncWritable();
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && view) markThreadRead(view);
});
