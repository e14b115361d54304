// The user's conversations, as data: read from the server, fetched one by one as events name new ones, and
// removed when left. The `conversations` notice tells the screens whenever an entry changes.
import { api } from '/api.js';
import { showListError } from '/conversation-list.js';
import { subscribePresence } from '/presence.js';
import { publish, state, subscribe } from '/state.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').Conversation} Conversation */
/** @typedef {import('/state.js').ConversationEntry} ConversationEntry */

/** Reads the list from the server (again), keeping the entries already known; tries again every 3 s while
 * it fails. The `listed` notice follows a success. */
export async function loadList() {
  const s = state;
  s.listReady = false;
  try {
    const { conversations } = await api('GET', '/v1/conversations');
    const entries = await Promise.all(conversations.map((c) => makeEntry(c)));
    if (state !== s) return;
    const old = s.conversations;
    s.conversations = new Map();
    for (const e of entries) {
      const prev = old.get(e.id);
      if (prev) Object.assign(prev, e);
      s.conversations.set(e.id, prev || e);
    }
    s.listReady = true;
    publish('conversations');
    publish('listed');
  } catch (e) {
    if (state !== s || e.status === 401) return;
    showListError(`Could not load conversations: ${e.message}`);
    setTimeout(() => state === s && !s.listReady && loadList(), 3000);
  }
}

/** The entry for a conversation the API gave: a DM is named after the other member, asked for when the
 * conversation does not list its members.
 * @param {Conversation} c
 * @returns {Promise<ConversationEntry>} */
async function makeEntry(c) {
  /** @type {ConversationEntry} */
  const e = {
    id: c.id,
    conv: c,
    name: c.name || '',
    last: c.last_message || null,
    unread: c.unread_count || 0,
    mentions: c.unread_mentions || 0,
    activity: c.last_message?.created_at || c.created_at,
  };
  if (c.kind === 'dm') {
    let members = c.members;
    if (!members) {
      try {
        members = (await api('GET', `/v1/conversations/${c.id}`)).members;
      } catch {
        members = [];
      }
    }
    const other = (members || []).find((id) => id !== state.me.id) ?? state.me.id;
    e.other = other;
    e.name = (await getUser(other)).name;
  } else if (!e.name) {
    e.name = c.kind === 'channel' ? 'Channel' : 'Group';
  }
  return e;
}

/** The entry of a conversation, fetched once if it is new to us (`known`: the conversation, when the caller
 * has it with its members); null when it cannot be had, or the session ended meanwhile.
 * @param {string} id
 * @param {Conversation} [known]
 * @returns {Promise<ConversationEntry | null>} */
export function ensureConversation(id, known) {
  const s = state;
  if (s.conversations.has(id)) return Promise.resolve(s.conversations.get(id));
  if (s.inflight.has(id)) return s.inflight.get(id);
  const p = (async () => {
    try {
      const c = known && known.members ? known : await api('GET', `/v1/conversations/${id}`);
      const e = await makeEntry(c);
      if (state !== s) return null;
      if (s.conversations.has(id)) return s.conversations.get(id);
      s.conversations.set(id, e);
      publish('conversations');
      if (e.other) subscribePresence([e.other]);
      return e;
    } catch {
      return null;
    } finally {
      s.inflight.delete(id);
    }
  })();
  s.inflight.set(id, p);
  return p;
}

/** Forgets a conversation the user left (here or on another device).
 * @param {string} id */
export function removeConversation(id) {
  const s = state;
  if (!s.conversations.has(id)) return;
  s.conversations.delete(id);
  s.initial.delete(id);
  publish('conversations');
}

/** A conversation a moderator changed (`conversation.updated`: its name, topic, privacy, archived, retention):
 * the entry takes what the event says, keeping what the event leaves out (the members, the membership, the
 * last message).
 * @param {Conversation} conv */
export function updateConversation(conv) {
  const e = state.conversations.get(conv.id);
  if (!e) return;
  const changed = { ...conv };
  for (const key of /** @type {(keyof Conversation)[]} */ (['members', 'membership', 'last_message', 'unread_count', 'unread_mentions'])) delete changed[key];
  // What the server leaves out when it is unset (no topic, not archived, the organization's retention) is
  // unset now.
  e.conv = { ...e.conv, topic: null, archived: false, retention_days: null, ...changed };
  if (e.conv.kind !== 'dm') e.name = e.conv.name || e.name;
  publish('conversations');
}

/** The user's own role in a channel changed (`member.role_changed` naming them).
 * @param {string} conversationId
 * @param {import('/state.js').ChannelRole} role */
export function setOwnRole(conversationId, role) {
  const e = state.conversations.get(conversationId);
  if (!e) return;
  e.conv = { ...e.conv, membership: { ...e.conv.membership, role } };
  publish('conversations');
}

/** Sets how many of a conversation's messages are unread; with none unread, none mentions the user either.
 * @param {ConversationEntry} e
 * @param {number} unread */
export function setUnread(e, unread) {
  e.unread = unread;
  if (!unread) e.mentions = 0;
}

/** Whether conversation `id` takes no writes now: an archived channel, until a moderator brings it back. The
 * server refuses (409 `archived`) sends, thread replies, edits, reactions, pins, adding members and typing in
 * it; reading, deleting one's own messages, "Reply privately" (a DM), following a thread and leaving stay.
 * Where the client builds those actions it leaves them out while this holds, and draws them again on the
 * `conversations` notice that says it changed (`conversation.updated`).
 * @param {string | null | undefined} id */
export function isReadOnly(id) {
  const conv = id ? state.conversations.get(id)?.conv : null;
  return !!conv && conv.kind === 'channel' && !!conv.archived;
}

/** The entry of the open conversation, or null.
 * @returns {ConversationEntry | null} */
export function openEntry() {
  const s = state;
  return (s.open && s.conversations.get(s.open.id)) || null;
}

// A DM is named after the other member: their new name renames it.
subscribe('user', (user) => {
  const s = state;
  if (!s) return;
  let renamed = false;
  for (const e of s.conversations.values()) {
    if (e.other !== user.id || e.name === user.name) continue;
    e.name = user.name;
    renamed = true;
  }
  if (renamed) publish('conversations');
});
