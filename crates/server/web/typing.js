// "NAME is typing…": telling the others while the user types (at most every 3 s), and showing who types in
// the open conversation (each for 5 s after their last `typing`, or until their message comes).
import { state, subscribe } from '/state.js';
import { $ } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').OpenConversation} OpenConversation */

const TYPING_EVERY = 3000;
const TYPING_SHOWN = 5000;

/** The user typed `draft` in the open conversation: tell the others, at most every 3 s.
 * @param {string} draft */
export function sendTyping(draft) {
  const s = state;
  const o = s?.open;
  if (!o || !draft.trim() || !s.rt.ready) return;
  const now = Date.now();
  if (now - (s.typingSent.get(o.id) || 0) < TYPING_EVERY) return;
  s.typingSent.set(o.id, now);
  s.rt.send({ op: 'typing', conversation_id: o.id });
}

/** Someone is typing (the `typing` frame).
 * @param {string} conversationId
 * @param {string} userId */
export function startTyping(conversationId, userId) {
  const s = state;
  const o = s.open;
  if (o?.id !== conversationId || userId === s.me.id) return;
  clearTimeout(o.typers.get(userId));
  o.typers.set(userId, setTimeout(() => stopTyping(conversationId, userId), TYPING_SHOWN));
  getUser(userId).then(() => s.open === o && renderTyping(o));
  renderTyping(o);
}

/** Someone stopped typing: their message came, or 5 s passed.
 * @param {string} conversationId
 * @param {string} userId */
export function stopTyping(conversationId, userId) {
  const s = state;
  const o = s?.open;
  if (o?.id !== conversationId || !o.typers.has(userId)) return;
  clearTimeout(o.typers.get(userId));
  o.typers.delete(userId);
  renderTyping(o);
}

/** Forgets who was typing in a conversation being closed or left.
 * @param {OpenConversation | null} o */
export function clearTyping(o) {
  if (o) for (const timer of o.typers.values()) clearTimeout(timer);
  $('#typing').textContent = '';
}

/** @param {OpenConversation} o */
function renderTyping(o) {
  const s = state;
  const names = [...o.typers.keys()].map((userId) => s.names.get(userId) || 'Someone');
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  const el = $('#typing');
  if (el.textContent !== text) el.textContent = text;
}

subscribe('user', () => state?.open && renderTyping(state.open));
