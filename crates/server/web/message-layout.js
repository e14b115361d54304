// How each message sits in the open conversation's log: whether it continues its author's group, and the day
// divider before the first message of each day. A message that follows its author's previous one within 5
// minutes, on the same day and with no "NAME joined" line between, continues the group (it shows its text
// alone). A divider is a separator named after its day: "Today", "Yesterday", or the date. Both depend on the
// message before, loaded or not, so message-log.js lays an article out again (`relayout`) whenever that one
// changes: an older page loaded above, a message forgotten, an ack.
import { fillArticle, layoutOf } from '/message.js';
import { state } from '/state.js';
import { dayKey, dayLabel, h } from '/ui.js';

/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').OpenConversation} OpenConversation */
/** @typedef {import('/state.js').PendingSend} PendingSend */
/** @typedef {import('/message.js').MessageLayout} MessageLayout */

/** A message continues its author's group when it comes within this long of their previous one. */
const GROUP_WITHIN = 5 * 60 * 1000;

/** How message `o.ids[i]` shows, from the message before it: whether it continues that author's group, and
 * the day it opens (an ISO time of that day) when a divider goes before it. The first message loaded opens
 * its day only when it is the conversation's first: before it, an older one may be of the same day.
 * @param {OpenConversation} o
 * @param {number} i
 * @returns {{layout: MessageLayout, day: string | null}} */
function layoutAt(o, i) {
  const m = o.data.get(o.ids[i]);
  const prev = i > 0 ? o.data.get(o.ids[i - 1]) : null;
  if (!prev) return { layout: { continues: false }, day: o.atStart ? m.created_at : null };
  if (dayKey(prev.created_at) !== dayKey(m.created_at)) return { layout: { continues: false }, day: m.created_at };
  return { layout: { continues: continues(prev, m.author_id, Date.parse(m.created_at), o) }, day: null };
}

/** Whether a message of `authorId` at `time` (ms) continues the group of `prev` (the caller has checked that
 * both are of the same day).
 * @param {Message} prev
 * @param {string} authorId
 * @param {number} time
 * @param {OpenConversation} o */
function continues(prev, authorId, time, o) {
  const gap = time - Date.parse(prev.created_at);
  return prev.author_id === authorId && gap >= 0 && gap < GROUP_WITHIN && !o.sys.get(prev.id)?.length;
}

/** The day divider before each article that opens a day. */
const dividers = /** @type {WeakMap<HTMLElement, HTMLElement>} */ (new WeakMap());

/** The divider before `art` (placed already) says `day`'s name, or goes when `day` is null.
 * @param {HTMLElement} art
 * @param {string | null} day an ISO time of that day */
export function setDivider(art, day) {
  let divider = dividers.get(art);
  if (!day) {
    divider?.remove();
    dividers.delete(art);
    return;
  }
  if (!divider) {
    divider = h('div', { class: 'day', role: 'separator' });
    dividers.set(art, divider);
  }
  if (divider.dataset.time !== day) {
    divider.dataset.time = day;
    labelDay(divider);
  }
  if (art.previousElementSibling !== divider) art.before(divider);
}

/** @param {HTMLElement} divider */
function labelDay(divider) {
  const label = dayLabel(divider.dataset.time);
  divider.setAttribute('aria-label', label);
  divider.replaceChildren(h('span', {}, label));
}

/** "Today" becomes "Yesterday" at midnight: every divider is labelled again then. */
let midnightTimer = 0;
export function relabelDaysAtMidnight() {
  clearTimeout(midnightTimer);
  const now = new Date();
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 5);
  midnightTimer = setTimeout(() => {
    for (const divider of document.querySelectorAll('#log > .day')) labelDay(/** @type {HTMLElement} */ (divider));
    relabelDaysAtMidnight();
  }, midnight.getTime() - now.getTime());
}

/** Fills the article of `o.ids[i]` (placed already), laid out from the message before it, with its divider.
 * @param {OpenConversation} o
 * @param {number} i
 * @param {HTMLElement} art */
export function layOut(o, i, art) {
  const { layout, day } = layoutAt(o, i);
  fillArticle(art, o.data.get(o.ids[i]), layout);
  setDivider(art, day);
}

/** Lays out again the article of `o.ids[i]`, if it is rendered: the message before it changed. Refilled only
 * when its grouping changed.
 * @param {OpenConversation} o
 * @param {number} i */
export function relayout(o, i) {
  const art = i >= o.lo && i < o.hi ? o.byId.get(o.ids[i]) : null;
  if (!art) return;
  const { layout, day } = layoutAt(o, i);
  if (layoutOf(art).continues !== layout.continues) fillArticle(art, o.data.get(o.ids[i]), layout);
  setDivider(art, day);
}

/** The element an article starts with on the page: its day divider, or itself.
 * @param {HTMLElement} art */
export const leading = (art) => {
  const divider = dividers.get(art);
  return divider?.isConnected ? divider : art;
};

/** How a pending send shows: it continues the user's group when it follows their last send still pending,
 * or their newest message within 5 minutes. (It gets no day divider until it is stored: a send made across
 * midnight shows "Today" a moment later.)
 * @param {OpenConversation} o
 * @param {PendingSend} p
 * @returns {MessageLayout} */
export function pendingLayout(o, p) {
  const s = state;
  const earlier = [...s.pending.values()].filter((x) => x.conversationId === o.id && x !== p && o.byNonce.has(x.nonce));
  if (earlier.length) return { continues: p.sentAt - earlier[earlier.length - 1].sentAt < GROUP_WITHIN };
  const newest = o.newest ? o.data.get(o.newest) : null;
  const sameDay = newest && dayKey(newest.created_at) === dayKey(new Date(p.sentAt).toISOString());
  return { continues: !!sameDay && continues(newest, s.me.id, p.sentAt, o) };
}
