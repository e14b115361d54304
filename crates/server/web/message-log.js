// The open conversation's message log (`#log`), windowed: `o.ids` holds every loaded id in order (their
// messages in `o.data`), and only `o.ids[o.lo .. o.hi)` have articles in the DOM (`o.byId`). Scrolling near an
// edge renders the next chunk there and drops articles far off the other edge; reaching the oldest loaded
// message fetches an older page. What is on screen stays put: every change is anchored on the first visible
// element. Sends not acknowledged yet follow the newest message; "NAME joined" lines follow the message
// before them. A channel archived or brought back draws every article again, with the actions the server
// takes now.
//
// Each article is laid out by message-layout.js (grouped with the message before it or not, a day divider
// before it or not), again whenever the message before it changes. message-navigation.js moves the focus
// between articles with the arrow keys.
import { api } from '/api.js';
import { isReadOnly } from '/conversations.js';
import { layOut, leading, pendingLayout, relabelDaysAtMidnight, relayout, setDivider } from '/message-layout.js';
import { fillArticle, messageOf, newArticle, pendingArticle } from '/message.js';
import { publish, state, subscribe } from '/state.js';
import { $, cmpId, h } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').OpenConversation} OpenConversation */
/** @typedef {import('/state.js').PendingSend} PendingSend */

/** Messages asked for per request. */
export const PAGE = 50;
const CHUNK = 50;
const MAX_WINDOW = 250;
const MARGIN = 1200; // px of content kept ready beyond each edge of the viewport

const logElement = () => $('#log');

/** @param {HTMLElement} log */
const atBottom = (log) => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

/** Wires the log of a freshly mounted main screen: scrolling extends the window, "New messages" jumps down. */
export function setupLog() {
  const log = logElement();
  log.addEventListener('scroll', () => {
    const o = state?.open;
    if (!o) return;
    if (log.scrollTop < MARGIN) extendUp(o);
    else if (log.scrollHeight - log.scrollTop - log.clientHeight < MARGIN) extendDown(o);
    if (o.hi === o.ids.length && atBottom(log)) showNewButton(false);
    publish('scrolled', o);
  }, { passive: true });
  $('#new-msgs').addEventListener('click', () => {
    const o = state?.open;
    if (!o) return;
    jumpToEnd(o);
    logElement().focus({ preventScroll: true });
  });
  relabelDaysAtMidnight();
}

/** Empties the log for a conversation being opened, busy until its first page is shown. */
export function clearLog() {
  const log = logElement();
  log.replaceChildren();
  showNewButton(false);
  log.setAttribute('aria-busy', 'true');
}

/**
 * Shows the newest page of the open conversation `o`, scrolled to the bottom. Returns its messages, or null
 * when they could not be read (the log says so) or another conversation was opened meanwhile.
 * @param {OpenConversation} o
 * @returns {Promise<Message[] | null>}
 */
export async function showLatest(o) {
  const s = state;
  const log = logElement();
  try {
    const { messages } = await api('GET', `/v1/conversations/${o.id}/messages?limit=${PAGE}`);
    if (s.open !== o) return null;
    o.atStart = messages.length < PAGE;
    await showMessages(o, messages);
    log.scrollTop = log.scrollHeight;
    return messages;
  } catch (err) {
    if (s.open === o && err.status !== 401) log.append(h('p', { class: 'log-note' }, `Could not load messages: ${err.message}`));
    return null;
  } finally {
    if (s.open === o) log.removeAttribute('aria-busy');
  }
}

/** Says in the log that something about the open conversation failed ("Could not leave: …").
 * @param {string} text */
export function logAlert(text) {
  logElement().append(h('p', { class: 'log-note', role: 'alert' }, text));
}

/** Keeps the newest messages in view (the layout changed, say). */
export function scrollToEnd() {
  const log = logElement();
  log.scrollTop = log.scrollHeight;
}

/** Puts the focus on the log itself. */
export function focusLog() {
  logElement().focus({ preventScroll: true });
}

/** @param {boolean} show */
function showNewButton(show) {
  $('#new-msgs').hidden = !show;
}

/** The newest message on screen: the last article whose top is above the log's bottom edge.
 * @param {OpenConversation} o
 * @returns {string | null} */
export function lastVisible(o) {
  const bottom = logElement().getBoundingClientRect().bottom;
  for (let i = o.hi - 1; i >= o.lo; i--) {
    const art = o.byId.get(o.ids[i]);
    if (art && art.getBoundingClientRect().top < bottom) return o.ids[i];
  }
  return null;
}

/** Runs `fn` (which changes the log's content) keeping the first visible element where it was on screen.
 * @param {() => void} fn */
function anchored(fn) {
  const log = logElement();
  const top = log.getBoundingClientRect().top;
  let anchor = null;
  for (const el of log.children) {
    if (el.getBoundingClientRect().bottom > top + 1) {
      anchor = el;
      break;
    }
  }
  const was = anchor ? anchor.getBoundingClientRect().top : 0;
  fn();
  if (anchor?.isConnected) log.scrollTop += anchor.getBoundingClientRect().top - was;
}

/** The first pending or failed send in the log (they sit after the stored messages), or null. */
function firstPending() {
  return [...logElement().children].find((/** @type {HTMLElement} */ a) => a.dataset.state === 'pending' || a.dataset.state === 'failed') || null;
}

/** Renders the article of `o.ids[i]` at the end of `frag`, with its divider.
 * @param {OpenConversation} o
 * @param {number} i
 * @param {DocumentFragment} frag */
function renderInto(o, i, frag) {
  const art = newArticle();
  o.byId.set(o.ids[i], art);
  frag.append(art);
  layOut(o, i, art);
}

/** The system lines kept after message `id` ('' for those before any message).
 * @param {OpenConversation} o
 * @param {string} id */
const systemLines = (o, id) => (o.sys.get(id) || []).map((text) => h('p', { class: 'system' }, text));

/** Renders the loaded messages `o.ids[from .. o.lo)` above the window.
 * @param {OpenConversation} o
 * @param {number} from */
function growTop(o, from) {
  const frag = document.createDocumentFragment();
  if (from === 0) frag.append(...systemLines(o, ''));
  for (let i = from; i < o.lo; i++) {
    renderInto(o, i, frag);
    frag.append(...systemLines(o, o.ids[i]));
  }
  const log = logElement();
  log.insertBefore(frag, log.firstChild);
  o.lo = from;
}

/** Renders the loaded messages `o.ids[o.hi .. to)` below the window.
 * @param {OpenConversation} o
 * @param {number} to */
function growBottom(o, to) {
  const frag = document.createDocumentFragment();
  if (o.hi === 0) frag.append(...systemLines(o, ''));
  for (let i = o.hi; i < to; i++) {
    renderInto(o, i, frag);
    frag.append(...systemLines(o, o.ids[i]));
  }
  logElement().insertBefore(frag, firstPending());
  o.hi = to;
}

/** Drops a rendered message's article with its system lines (those after it). Trimmed from the top, it is the
 * first one shown, so the lines before it (kept by messages already dropped) go too.
 * @param {OpenConversation} o
 * @param {string} id
 * @param {'top' | 'bottom'} side */
function dropArticle(o, id, side) {
  const art = o.byId.get(id);
  o.byId.delete(id);
  if (!art) return;
  if (art.contains(document.activeElement)) focusLog();
  setDivider(art, null);
  const drop = (/** @type {(el: Element) => Element | null} */ step) => {
    for (let sib = step(art); sib?.classList.contains('system'); sib = step(art)) sib.remove();
  };
  drop((el) => el.nextElementSibling);
  if (side === 'top') drop((el) => el.previousElementSibling);
  art.remove();
}

/** Drops articles from `side` until the window is small enough.
 * @param {OpenConversation} o
 * @param {'top' | 'bottom'} side */
function trim(o, side) {
  while (o.hi - o.lo > MAX_WINDOW) {
    if (side === 'top') dropArticle(o, o.ids[o.lo++], 'top');
    else dropArticle(o, o.ids[--o.hi], 'bottom');
  }
  syncPending(o);
}

/** Pending sends show after the newest message, so only while the window reaches it.
 * @param {OpenConversation} o */
function syncPending(o) {
  const log = logElement();
  const atEnd = o.hi === o.ids.length;
  for (const art of o.byNonce.values()) {
    if (atEnd && !art.isConnected) log.append(art);
    else if (!atEnd && art.isConnected) art.remove();
  }
}

/** @param {OpenConversation} o */
export function extendUp(o) {
  if (o.lo > 0) {
    anchored(() => {
      growTop(o, Math.max(0, o.lo - CHUNK));
      trim(o, 'bottom');
    });
    publish('rendered', o);
  } else {
    loadOlder();
  }
}

/** @param {OpenConversation} o */
export function extendDown(o) {
  if (o.hi >= o.ids.length) return;
  anchored(() => {
    growBottom(o, Math.min(o.ids.length, o.hi + CHUNK));
    trim(o, 'top');
  });
  publish('rendered', o);
}

/** Shows the newest messages and scrolls to them.
 * @param {OpenConversation} o */
export function jumpToEnd(o) {
  const log = logElement();
  if (o.hi < o.ids.length) {
    if (log.contains(document.activeElement) && document.activeElement !== log) focusLog();
    for (const art of o.byId.values()) art.remove();
    for (const el of log.querySelectorAll(':scope > .system, :scope > .day')) el.remove();
    o.byId.clear();
    o.lo = o.hi = Math.max(0, o.ids.length - CHUNK);
    growBottom(o, o.ids.length);
    syncPending(o);
    publish('rendered', o);
  }
  log.scrollTop = log.scrollHeight;
  showNewButton(false);
}

/** Renders the window of loaded messages around message `id` (loaded), in place of what shows; returns its
 * article, or null when it is not loaded. (A permalink or a pin jumps to it.)
 * @param {OpenConversation} o
 * @param {string} id
 * @returns {HTMLElement | null} */
export function windowAround(o, id) {
  const i = o.ids.indexOf(id);
  if (i < 0) return null;
  if (i >= o.lo && i < o.hi) return o.byId.get(id);
  const log = logElement();
  if (log.contains(document.activeElement) && document.activeElement !== log) focusLog();
  for (const art of o.byId.values()) art.remove();
  for (const el of log.querySelectorAll(':scope > .system, :scope > .day')) el.remove();
  o.byId.clear();
  o.lo = o.hi = Math.max(0, i - CHUNK / 2);
  growBottom(o, Math.min(o.ids.length, i + CHUNK / 2));
  syncPending(o);
  publish('rendered', o);
  return o.byId.get(id);
}

/** Forgets every loaded message of `o` and empties the log, to load another stretch of the conversation
 * (a permalink far from what is loaded). Pending sends stay.
 * @param {OpenConversation} o */
export function forgetLoaded(o) {
  const log = logElement();
  if (log.contains(document.activeElement) && document.activeElement !== log) focusLog();
  for (const art of o.byId.values()) art.remove();
  for (const el of log.querySelectorAll(':scope > .system, :scope > .day, :scope > .log-note')) el.remove();
  o.byId.clear();
  o.data.clear();
  o.ids = [];
  o.sys.clear();
  o.lo = o.hi = 0;
  o.oldest = o.newest = null;
  o.atStart = false;
  syncPending(o);
}

/** When the first page does not fill the log, there is nothing to scroll: load more until it does.
 * @param {OpenConversation} o */
export function fillUp(o) {
  const log = logElement();
  if (state?.open === o && log.scrollHeight <= log.clientHeight + 80) extendUp(o);
}

async function loadOlder() {
  const s = state;
  const o = s?.open;
  if (!o || o.loading || o.atStart || !o.ids.length) return;
  o.loading = true;
  let failed = false;
  const log = logElement();
  const note = $('#log-loading');
  note.hidden = false;
  log.setAttribute('aria-busy', 'true');
  try {
    const before = o.ids[0];
    const { messages } = await api('GET', `/v1/conversations/${o.id}/messages?before=${before}&limit=${PAGE}`);
    // Another stretch loaded meanwhile (a jump to a message far back): this page no longer joins it.
    if (s.open !== o || o.ids[0] !== before) return;
    if (messages.length < PAGE) o.atStart = true;
    await showMessages(o, messages, 'older');
    // The conversation's first message, now known to be first, opens its day.
    if (o.atStart) relayout(o, 0);
  } catch {
    // Scrolling to the top again retries; filling the screen does not, or a failing server (429, offline)
    // would be asked again at once, in a loop.
    failed = true;
  } finally {
    o.loading = false;
    if (s.open === o) {
      note.hidden = true;
      log.removeAttribute('aria-busy');
      if (!failed) fillUp(o);
    }
  }
}

/** Where `id` goes in the sorted `ids`.
 * @param {string[]} ids
 * @param {string} id */
function insertIndex(ids, id) {
  let a = 0;
  let b = ids.length;
  if (b && cmpId(id, ids[b - 1]) > 0) return b;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (cmpId(ids[mid], id) < 0) a = mid + 1;
    else b = mid;
  }
  return a;
}

/**
 * Upserts stored messages into the open conversation, keyed by id (and by nonce for our pending sends).
 * `where` 'older': a page from before the loaded ones, kept in place on screen.
 * @param {OpenConversation} o
 * @param {Message[]} messages
 * @param {'newer' | 'older'} [where]
 */
export async function showMessages(o, messages, where = 'newer') {
  const s = state;
  // Authors, and the people a message mentions (so `@name` shows as a mention).
  const people = messages.flatMap((m) => [m.author_id, ...(m.mentions?.user_ids || [])]);
  await Promise.all([...new Set(people)].map(getUser));
  if (s.open !== o) return;
  const log = logElement();
  const stick = atBottom(log);
  let mine = false;
  let unseen = false;
  const apply = () => {
    for (const m of messages) {
      if (o.data.has(m.id)) {
        o.data.set(m.id, m);
        const art = o.byId.get(m.id);
        if (art) fillArticle(art, m);
        continue;
      }
      let pendingArt = null;
      if (m.nonce && o.byNonce.has(m.nonce)) {
        pendingArt = o.byNonce.get(m.nonce);
        o.byNonce.delete(m.nonce);
        s.pending.delete(m.nonce);
        mine = true;
      }
      o.data.set(m.id, m);
      const wasAtEnd = o.hi === o.ids.length;
      const i = insertIndex(o.ids, m.id);
      o.ids.splice(i, 0, m.id);
      if (i < o.lo) {
        o.lo++;
        o.hi++;
        pendingArt?.remove();
      } else if (i < o.hi || (i === o.hi && (wasAtEnd || i === o.lo))) {
        const art = pendingArt || newArticle();
        o.byId.set(m.id, art);
        const after = i + 1 <= o.hi ? o.byId.get(o.ids[i + 1]) : null;
        log.insertBefore(art, after ? leading(after) : firstPending());
        o.hi++;
        layOut(o, i, art);
        relayout(o, i + 1);
      } else {
        pendingArt?.remove();
        if (i === o.ids.length - 1 && m.author_id !== s.me.id) unseen = true;
      }
    }
    o.oldest = o.ids[0] || null;
    o.newest = o.ids[o.ids.length - 1] || null;
  };
  if (where === 'older') {
    anchored(() => {
      apply();
      trim(o, 'bottom');
    });
  } else if (stick || mine) {
    apply();
    trim(o, 'top');
    if (o.hi < o.ids.length) jumpToEnd(o); // our own send, acked after the window moved up
    log.scrollTop = log.scrollHeight;
  } else {
    // Scrolled up: the view stays; a window grown too big sheds the side farther from what is on screen.
    anchored(() => {
      apply();
      trim(o, log.scrollTop + log.clientHeight / 2 > log.scrollHeight / 2 ? 'top' : 'bottom');
    });
    if (messages.some((m) => m.author_id !== s.me.id && m.id === o.newest)) {
      unseen = true;
    }
  }
  if (unseen) showNewButton(true);
  if (messages.length) publish('rendered', o);
}

/** Forgets a message hidden from us (deleted for me): its data and its article.
 * @param {OpenConversation} o
 * @param {string} id */
export function forget(o, id) {
  const i = o.ids.indexOf(id);
  if (i < 0) return;
  const art = o.byId.get(id);
  if (art?.contains(document.activeElement)) focusLog();
  if (art) setDivider(art, null);
  art?.remove();
  o.byId.delete(id);
  o.data.delete(id);
  o.ids.splice(i, 1);
  // Its system lines now follow the message before it, where they already stand on screen.
  const lines = o.sys.get(id);
  if (lines) {
    const prev = o.ids[i - 1] || '';
    o.sys.delete(id);
    o.sys.set(prev, [...(o.sys.get(prev) || []), ...lines]);
  }
  if (i < o.lo) o.lo--;
  if (i < o.hi) o.hi--;
  o.oldest = o.ids[0] || null;
  o.newest = o.ids[o.ids.length - 1] || null;
  // The message after it follows another one now.
  relayout(o, i);
}

/** The retention purge deleted the conversation's messages up to `through`: they leave the log, but for a
 * thread's first message with replies, which the server keeps, erased, while its replies go on (shown as
 * deleted here: the thread may have ended within the purge too, and then it goes on the next load).
 * @param {OpenConversation} o
 * @param {string} through */
export function forgetThrough(o, through) {
  const purged = o.ids.filter((id) => cmpId(id, through) <= 0);
  for (const id of purged) {
    const m = o.data.get(id);
    if (m && !m.thread_root_id && m.reply_count) tombstone(o, id, { reactions: [] });
    else forget(o, id);
  }
}

/** A message deleted for everyone: it stays, as "This message was deleted." (or "Removed by a moderator.")
 * @param {OpenConversation} o
 * @param {string} id
 * @param {Partial<Message>} [also] more to change (reactions dropped, say) */
export function tombstone(o, id, also = {}) {
  const m = o.data.get(id);
  if (!m) return;
  const gone = { ...m, text: undefined, deleted: true, ...also };
  o.data.set(id, gone);
  const art = o.byId.get(id);
  if (art) fillArticle(art, gone);
}

/**
 * A reaction added or removed (an event, or our own request answered): upserts the open message's reactions.
 * @param {string} conversationId
 * @param {string} messageId
 * @param {string} emoji
 * @param {string} userId
 * @param {'added' | 'removed'} change
 */
export function applyReaction(conversationId, messageId, emoji, userId, change) {
  const s = state;
  const o = s.open?.id === conversationId ? s.open : null;
  const m = o?.data.get(messageId);
  if (!m) return;
  const reactions = (m.reactions || []).map((r) => ({ emoji: r.emoji, user_ids: [...r.user_ids] }));
  let r = reactions.find((x) => x.emoji === emoji);
  if (change === 'added') {
    if (!r) reactions.push((r = { emoji, user_ids: [] }));
    if (r.user_ids.includes(userId)) return;
    r.user_ids.push(userId);
  } else {
    if (!r || !r.user_ids.includes(userId)) return;
    r.user_ids = r.user_ids.filter((x) => x !== userId);
  }
  o.data.set(messageId, { ...m, reactions: reactions.filter((x) => x.user_ids.length) });
  const art = o.byId.get(messageId);
  if (art) fillArticle(art, o.data.get(messageId));
}

/**
 * "NAME joined", "NAME left" or "NAME was removed" (by a moderator) in the open conversation's log, after the newest message when it happened.
 * Kept in `o.sys` by that message, so the line comes back whenever the window renders the message again.
 * @param {string} conversationId
 * @param {string} userId
 * @param {'joined' | 'left' | 'was removed'} what
 */
export async function systemLine(conversationId, userId, what) {
  const s = state;
  const o = s.open;
  if (o?.id !== conversationId) return;
  const at = o.newest || '';
  const u = await getUser(userId);
  if (s.open !== o) return;
  const text = `${u.name} ${what}`;
  if (!o.sys.has(at)) o.sys.set(at, []);
  o.sys.get(at).push(text);
  const anchor = at ? o.byId.get(at) : null;
  if (at ? !anchor : o.lo > 0) return; // off the window: shown when its place is
  const log = logElement();
  const stick = atBottom(log);
  let ref = anchor ? anchor.nextElementSibling : log.firstElementChild;
  while (ref?.classList.contains('system')) ref = ref.nextElementSibling;
  log.insertBefore(h('p', { class: 'system' }, text), ref);
  if (stick) log.scrollTop = log.scrollHeight;
}

/** Shows a send not acknowledged yet after the newest message.
 * @param {OpenConversation} o
 * @param {PendingSend} p
 * @returns {HTMLElement} its article */
export function placePending(o, p) {
  const art = pendingArticle(p, pendingLayout(o, p));
  o.byNonce.set(p.nonce, art);
  logElement().append(art);
  return art;
}

/** Whether each opening of a conversation was read-only (an archived channel) when last drawn. */
const drawnReadOnly = /** @type {WeakMap<OpenConversation, boolean>} */ (new WeakMap());

// The open channel archived or brought back (here or by a moderator elsewhere): every article is drawn again,
// so its actions are those the server takes now (message.js leaves out the writes it refuses). The first
// notice of an opening only notes the state its articles will be drawn in.
subscribe('conversations', () => {
  const o = state?.open;
  if (!o) return;
  const readOnly = isReadOnly(o.id);
  const was = drawnReadOnly.get(o);
  drawnReadOnly.set(o, readOnly);
  if (was === undefined || was === readOnly) return;
  for (const [id, art] of o.byId) {
    const m = o.data.get(id);
    if (m) fillArticle(art, m);
  }
});

// A new name or avatar shows on every message of its author.
subscribe('user', (user) => {
  const o = state?.open;
  if (!o) return;
  for (const art of o.byId.values()) {
    const m = messageOf(art);
    if (m?.author_id === user.id) fillArticle(art, m);
  }
});

subscribe('reaction', ({ conversationId, messageId, emoji, userId, added }) => {
  if (state) applyReaction(conversationId, messageId, emoji, userId, added ? 'added' : 'removed');
});

// Our own deletion, answered: for everyone, the message stays as deleted (and its reactions go); for us, it goes.
subscribe('deleted', ({ conversationId, messageId, scope }) => {
  const o = state?.open;
  if (o?.id !== conversationId) return;
  if (scope === 'everyone') tombstone(o, messageId, { reactions: [] });
  else forget(o, messageId);
});
