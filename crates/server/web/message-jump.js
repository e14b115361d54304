// Jumping to one message of a conversation (a permalink, a pinned message): the conversation opens, the
// message is loaded when it is not (`GET .../messages?around=ID`), rendered, scrolled to the middle of the
// log, focused and highlighted for a moment.
//
// A message far from what is loaded would leave a gap between its page and the newest messages, which the
// windowed log cannot show: then what was loaded is forgotten, the page around the message is the log, and
// the newer messages load page by page as the log is scrolled down to them (`after=`).
import { api } from '/api.js';
import { openConversation } from '/conversation.js';
import { forgetLoaded, logAlert, PAGE, showMessages, windowAround } from '/message-log.js';
import { state, subscribe } from '/state.js';
import { cmpId } from '/ui.js';

/** @typedef {import('/state.js').OpenConversation} OpenConversation */

/** For an open conversation loaded around a message: the newest message loaded of the stretch that does not
 * reach the conversation's newest yet. */
const newerFrom = /** @type {WeakMap<OpenConversation, string>} */ (new WeakMap());
const loadingNewer = /** @type {WeakSet<OpenConversation>} */ (new WeakSet());

/** How long a message jumped to stays highlighted, in ms. */
const HIGHLIGHT_MS = 2500;

/**
 * Opens conversation `conversationId` at message `messageId`. False when the user is not in the conversation
 * or the message cannot be had (deleted for them, or not there): the log then says so.
 * @param {string} conversationId
 * @param {string} messageId
 * @returns {Promise<boolean>}
 */
export async function jumpToMessage(conversationId, messageId) {
  const s = state;
  if (!s.conversations.has(conversationId)) return false;
  if (s.open?.id !== conversationId) await openConversation(conversationId);
  const o = s.open;
  if (state !== s || o?.id !== conversationId) return false;
  if (!o.data.has(messageId)) await loadAround(o, messageId);
  if (state !== s || s.open !== o) return false;
  const art = windowAround(o, messageId);
  if (!art) {
    logAlert('That message is not available: it was deleted, or is not in this conversation.');
    return false;
  }
  art.scrollIntoView({ block: 'center' });
  art.focus({ preventScroll: true });
  art.classList.add('highlight');
  setTimeout(() => art.classList.remove('highlight'), HIGHLIGHT_MS);
  return true;
}

/** Loads the page around `messageId` into `o`: added to what is loaded when the two meet, else in its place.
 * @param {OpenConversation} o
 * @param {string} messageId */
async function loadAround(o, messageId) {
  const s = state;
  let messages;
  try {
    ({ messages } = await api('GET', `/v1/conversations/${o.id}/messages?around=${messageId}&limit=${PAGE}`));
  } catch {
    return;
  }
  if (s.open !== o || !messages.length) return;
  const newest = messages[messages.length - 1].id;
  if (!o.ids.length || cmpId(newest, o.ids[0]) >= 0) {
    await showMessages(o, messages, 'older');
    return;
  }
  forgetLoaded(o);
  newerFrom.set(o, newest);
  await showMessages(o, messages, 'older');
}

/** Scrolled to the bottom of a stretch loaded around a message: the next newer page. */
async function loadNewer(/** @type {OpenConversation} */ o) {
  const s = state;
  const from = newerFrom.get(o);
  if (!from || loadingNewer.has(o)) return;
  loadingNewer.add(o);
  try {
    const { messages } = await api('GET', `/v1/conversations/${o.id}/messages?after=${from}&limit=${PAGE}`);
    if (s.open !== o || newerFrom.get(o) !== from) return;
    if (messages.length < PAGE) newerFrom.delete(o);
    else newerFrom.set(o, messages[messages.length - 1].id);
    await showMessages(o, messages);
  } catch {
    /* scrolling down again retries */
  } finally {
    loadingNewer.delete(o);
  }
}

subscribe('scrolled', (o) => {
  if (!newerFrom.has(o) || o.hi < o.ids.length) return;
  const log = document.getElementById('log');
  if (log.scrollHeight - log.scrollTop - log.clientHeight < 1200) loadNewer(o);
});
