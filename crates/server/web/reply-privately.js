// "Reply privately" on someone else's message in a channel or a group: opens the DM with its author (made
// when there is none yet) with the message as a quote above the composer (quote-draft.js). Also where a
// quote's card leads (the `open-message` notice): the original conversation at that message, or its thread.
import { api } from '/api.js';
import { focusComposer } from '/composer.js';
import { enterConversation, openConversation } from '/conversation.js';
import { setQuote } from '/quote-draft.js';
import { publish, state, subscribe } from '/state.js';

/** @typedef {import('/state.js').Message} Message */

/** Opens (or makes) the DM with the author of `m` and quotes `m` above its composer.
 * @param {Message} m */
export async function replyPrivately(m) {
  const s = state;
  const authorId = m.author_id;
  const dm = [...s.conversations.values()].find((e) => e.conv.kind === 'dm' && e.other === authorId);
  let conversationId = dm?.id;
  if (dm) {
    openConversation(dm.id);
  } else {
    try {
      const conv = await api('POST', '/v1/conversations', { kind: 'dm', members: [authorId] });
      if (state !== s) return;
      s.initial.set(conv.id, new Set([s.me.id, authorId]));
      if (!(await enterConversation(s, conv, [s.me.id, authorId]))) return;
      conversationId = conv.id;
    } catch {
      return; // the message stays where it was; nothing opened
    }
  }
  if (state !== s || s.open?.id !== conversationId) return;
  await setQuote(conversationId, m);
  focusComposer();
}

/** Shows message `m` where it was written: its thread when it is a reply, else its conversation, scrolled to
 * it and focused when it is among the messages loaded.
 * @param {Message} m */
async function openMessage(m) {
  const s = state;
  if (!s.conversations.has(m.conversation_id)) return;
  if (m.thread_root_id) {
    publish('open-thread', { conversationId: m.conversation_id, rootId: m.thread_root_id, opener: null });
    return;
  }
  if (s.open?.id !== m.conversation_id) await openConversation(m.conversation_id);
  const art = state === s && s.open?.id === m.conversation_id ? s.open.byId.get(m.id) : null;
  if (!art) return;
  art.scrollIntoView({ block: 'center' });
  art.focus({ preventScroll: true });
}

subscribe('open-message', (m) => state && openMessage(m));
