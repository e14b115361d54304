// Reading: the user's read checkpoint in the open conversation (moved to the newest message on screen) and
// the other members' read markers (their avatars after the last message each has read, in DMs and groups).
import { api } from '/api.js';
import { setUnread } from '/conversations.js';
import { lastVisible } from '/message-log.js';
import { setReaders } from '/message.js';
import { publish, state, subscribe } from '/state.js';
import { cmpId } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').OpenConversation} OpenConversation */

/** Moves the read checkpoint to the newest message on screen (never back): scrolled far up, what is below
 * has not been read. The list's unread count follows. */
export function markRead() {
  const s = state;
  const o = s.open;
  if (!o || !o.newest || document.hidden) return;
  const upTo = lastVisible(o);
  if (!upTo) return;
  const e = s.conversations.get(o.id);
  const point = o.readSent && cmpId(o.readSent, upTo) > 0 ? o.readSent : upTo;
  if (e) {
    const unread = o.ids.filter((id) => cmpId(id, point) > 0 && o.data.get(id)?.author_id !== s.me.id).length;
    if (e.unread !== unread) {
      setUnread(e, unread);
      publish('conversations');
    }
  }
  if (o.readSent && cmpId(o.readSent, upTo) >= 0) return;
  o.readSent = upTo;
  api('POST', `/v1/conversations/${o.id}/read`, { message_id: upTo }).catch(() => {
    if (s.open === o) o.readSent = null;
  });
}

let readTimer = 0;
/** Scrolling shows more: reads are marked once it settles. */
function markReadSoon() {
  clearTimeout(readTimer);
  readTimer = setTimeout(markRead, 250);
}

/** Where each other member has read up to, when a DM or group opens.
 * @param {OpenConversation} o */
export async function loadReceipts(o) {
  const s = state;
  if (!o.reads) return;
  try {
    const { receipts } = await api('GET', `/v1/conversations/${o.id}/receipts`);
    if (s.open !== o) return;
    await Promise.all(receipts.filter((r) => r.user_id !== s.me.id).map((r) => getUser(r.user_id)));
    if (s.open !== o) return;
    for (const r of receipts) {
      if (r.user_id === s.me.id || !r.message_id) continue;
      const had = o.reads.get(r.user_id);
      if (!had || cmpId(r.message_id, had) > 0) o.reads.set(r.user_id, r.message_id);
    }
    renderReceipts(o);
  } catch {
    /* no markers; live events still move them */
  }
}

/** A member read up to a message (the `read.updated` event): their marker moves, never back.
 * @param {OpenConversation} o
 * @param {string} userId
 * @param {string} messageId */
export function moveReceipt(o, userId, messageId) {
  const had = o.reads.get(userId);
  if (had && cmpId(messageId, had) <= 0) return;
  o.reads.set(userId, messageId);
  renderReceipts(o);
}

/** Puts each reader's marker after the last shown message they have read.
 * @param {OpenConversation} o */
function renderReceipts(o) {
  const s = state;
  if (!o.reads || s.open !== o) return;
  const ids = o.ids;
  const markAt = /** @type {Map<string, string[]>} */ (new Map());
  for (const [userId, read] of o.reads) {
    let at = null;
    for (const id of ids) {
      if (cmpId(id, read) <= 0) at = id;
      else break;
    }
    if (!at) continue;
    if (!markAt.has(at)) markAt.set(at, []);
    markAt.get(at).push(userId);
    if (!s.users.has(userId) && !o.asked?.has(userId)) {
      // Once per reader: their name (and avatar) come later.
      (o.asked ||= new Set()).add(userId);
      getUser(userId).then(() => s.open === o && renderReceipts(o));
    }
  }
  o.markAt = markAt;
  for (const [id, art] of o.byId) setReaders(art, markAt.get(id));
}

subscribe('rendered', renderReceipts);
subscribe('scrolled', markReadSoon);
// A reader's new name or avatar shows on their marker.
subscribe('user', () => state?.open && renderReceipts(state.open));
