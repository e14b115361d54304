// What a message's buttons ask of the server: reacting (or taking a reaction back) and deleting. Once the
// server has done it, the `reaction` or `deleted` notice tells the open conversation's log.
import { api } from '/api.js';
import { publish, state } from '/state.js';
import { isBusy, setBusy } from '/ui.js';

/** @typedef {import('/state.js').Message} Message */

/**
 * Adds the user's reaction `emoji` to message `m`, or takes it back when they have it already.
 * @param {Message} m the message as shown now
 * @param {string} emoji
 * @param {HTMLElement} button busy while the request is in flight
 */
export async function toggleReaction(m, emoji, button) {
  const s = state;
  if (isBusy(button)) return;
  const me = s.me.id;
  const mine = (m.reactions || []).some((r) => r.emoji === emoji && r.user_ids.includes(me));
  setBusy(button, true);
  try {
    await api(mine ? 'DELETE' : 'PUT', `/v1/conversations/${m.conversation_id}/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`);
    if (state === s) publish('reaction', { conversationId: m.conversation_id, messageId: m.id, emoji, userId: me, added: !mine });
  } catch {
    /* the button stays as it was */
  } finally {
    setBusy(button, false);
  }
}

/**
 * Deletes message `m` for everyone (their own messages only) or for the user alone.
 * @param {Message} m
 * @param {'everyone' | 'me'} scope
 * @param {HTMLElement} button busy while the request is in flight; it goes with the message
 */
export async function deleteMessage(m, scope, button) {
  const s = state;
  if (isBusy(button)) return;
  setBusy(button, true);
  try {
    await api('DELETE', `/v1/conversations/${m.conversation_id}/messages/${m.id}?for=${scope}`);
    if (state === s) publish('deleted', { conversationId: m.conversation_id, messageId: m.id, scope });
  } catch {
    setBusy(button, false);
  }
}
