// What the server tells the client over the socket, applied where it belongs: durable events (messages,
// deletions, reads, members, reactions), the replies to our sends, and ephemeral frames (typing, presence,
// profile and organization settings changes). Events that come before the list has been read wait until it has.
import { openConversation } from '/conversation.js';
import { ensureConversation, loadList, removeConversation, setOwnRole, setUnread, updateConversation } from '/conversations.js';
import { applyUpdated } from '/message-edit.js';
import { applyReaction, forget, forgetThrough, showMessages, systemLine, tombstone } from '/message-log.js';
import { applyOrgSettings } from '/permissions.js';
import { applyPin } from '/pins.js';
import { setPresence } from '/presence.js';
import { markRead, moveReceipt } from '/reads.js';
import { showRemovedNotice } from '/removed-notice.js';
import { acknowledged, refused } from '/sending.js';
import { publish, state, subscribe } from '/state.js';
import { startTyping, stopTyping } from '/typing.js';
import { cmpId } from '/ui.js';
import { updateUser } from '/users.js';

/** @typedef {import('/state.js').Message} Message */

/** A durable event: applied now, or once the list has been read.
 * @param {any} f */
export function receiveEvent(f) {
  const s = state;
  if (s.listReady) applyEvent(f);
  else s.buffer.push(f);
}

/** @param {any} f */
function applyEvent(f) {
  const s = state;
  switch (f.type) {
    case 'message.created':
      applyMessage(f.message);
      stopTyping(f.conversation_id, f.message.author_id);
      break;
    case 'pin.added':
    case 'pin.removed':
      applyPin(f.conversation_id, f.message_id, f.type === 'pin.added');
      break;
    case 'message.updated':
      applyUpdated(f.message);
      break;
    case 'message.deleted': {
      // `removed_by_moderator`: a channel's moderator (or an administrator) deleted someone else's message.
      const removed = { removed_by_moderator: !!f.removed_by_moderator };
      const e = s.conversations.get(f.conversation_id);
      if (e?.last?.id === f.message_id) {
        e.last = { ...e.last, text: undefined, deleted: true, ...removed };
        publish('conversations');
      }
      if (s.open?.id === f.conversation_id) tombstone(s.open, f.message_id, removed);
      break;
    }
    case 'message.hidden': {
      if (s.open?.id === f.conversation_id) forget(s.open, f.message_id);
      // The list showed it as the last message: the server knows which one is the last visible now.
      if (s.conversations.get(f.conversation_id)?.last?.id === f.message_id) loadList();
      break;
    }
    case 'read.updated': {
      const e = s.conversations.get(f.conversation_id);
      const o = s.open;
      if (f.user_id !== s.me.id && o?.id === f.conversation_id && o.reads) moveReceipt(o, f.user_id, f.message_id);
      if (f.user_id === s.me.id && e && e.unread && (!e.last || cmpId(f.message_id, e.last.id) >= 0)) {
        setUnread(e, 0);
        publish('conversations');
      }
      break;
    }
    case 'conversation.created':
      ensureConversation(f.conversation.id);
      break;
    case 'member.joined': {
      if (f.user_id === s.me.id) {
        ensureConversation(f.conversation_id);
        break;
      }
      const initial = s.initial.get(f.conversation_id);
      if (initial?.has(f.user_id)) {
        initial.delete(f.user_id); // an initial member of a conversation we just made: not news
        break;
      }
      systemLine(f.conversation_id, f.user_id, 'joined');
      break;
    }
    case 'member.left': {
      // `removed`: a moderator removed them. Removed themself, the user is told why the channel went.
      if (f.user_id !== s.me.id) {
        systemLine(f.conversation_id, f.user_id, f.removed ? 'was removed' : 'left');
        break;
      }
      const name = s.conversations.get(f.conversation_id)?.name;
      removeConversation(f.conversation_id);
      if (f.removed && name !== undefined) showRemovedNotice(name);
      break;
    }
    case 'member.role_changed':
      if (f.user_id === s.me.id) setOwnRole(f.conversation_id, f.role);
      break;
    case 'conversation.updated':
      updateConversation(f.conversation);
      break;
    case 'conversation.purged': {
      // The retention purge deleted messages up to `through`: the list's last message among them is read
      // again (the server knows what is left), and the open log drops them.
      const last = s.conversations.get(f.conversation_id)?.last;
      if (last && cmpId(last.id, f.through) <= 0) loadList();
      if (s.open?.id === f.conversation_id) forgetThrough(s.open, f.through);
      break;
    }
    case 'reaction.added':
    case 'reaction.removed':
      applyReaction(f.conversation_id, f.message_id, f.emoji, f.user_id, f.type === 'reaction.added' ? 'added' : 'removed');
      break;
    default:
      break; // others: not shown here (thread.updated: thread-pane.js and threads-view.js; conversation.purged also there and in pins.js)
  }
  publish('event', f);
}

/** A stored message, from an event or an ack: updates the list and the open conversation.
 * @param {Message} m */
async function applyMessage(m) {
  const s = state;
  // A reply in a thread goes to the thread; the main history shows it only when it was also sent there.
  if (m.thread_root_id) {
    publish('reply', m);
    if (!m.also_to_conversation) return;
  }
  const e = await ensureConversation(m.conversation_id);
  if (!e || state !== s) return;
  const viewing = s.open?.id === m.conversation_id && !document.hidden;
  if (!e.last || cmpId(m.id, e.last.id) > 0) {
    e.last = m;
    e.activity = m.created_at;
    if (m.author_id !== s.me.id && !viewing) {
      e.unread += 1;
      if (mentionsMe(m)) e.mentions += 1;
    }
    publish('conversations');
  } else if (e.last.id === m.id) {
    e.last = m;
    publish('conversations');
  }
  if (s.open?.id === m.conversation_id) {
    await showMessages(s.open, [m]);
    if (viewing) markRead();
  }
}

/** Whether a message mentions the user: by name, or everyone (`@channel`, `@here`).
 * @param {Message} m */
const mentionsMe = (m) => !!(m.mentions && (m.mentions.user_ids?.includes(state.me.id) || m.mentions.channel || m.mentions.here));

/** The answer to one of our `send` ops: an ack with the stored message, or an error.
 * @param {any} f */
export function receiveReply(f) {
  if (!state) return;
  if (f.type === 'ack') {
    acknowledged(f.ref);
    applyMessage(f.message);
    return;
  }
  refused(f);
  publish('refused', f);
}

/** Ephemeral frames and op replies that are not acks of sends.
 * @param {any} f */
export function receiveFrame(f) {
  switch (f.type) {
    case 'typing':
      startTyping(f.conversation_id, f.user_id);
      break;
    case 'presence':
      for (const u of f.users || []) setPresence(u.user_id, u.online, u.last_seen);
      break;
    case 'presence.updated':
      setPresence(f.user_id, f.online, f.last_seen);
      break;
    case 'user.updated':
      if (f.user?.id) updateUser(f.user);
      break;
    case 'org.updated':
      if (f.settings) applyOrgSettings(f.settings);
      break;
    default:
      break;
  }
}

/** The socket could not resume where it left off: the list and the open conversation are read again. */
export async function resync() {
  const s = state;
  await loadList();
  if (state === s && s.open) openConversation(s.open.id, { reload: true });
}

// Events that waited for the list are applied once it has been read.
subscribe('listed', () => {
  const s = state;
  const buffered = s.buffer;
  s.buffer = [];
  for (const f of buffered) applyEvent(f);
});
