// The open conversation's pane (`#conv`): opening and closing it, its header (the title, a channel's topic, a
// DM partner's presence, "Leave", a channel's join link) and the parts it brings up (the log, the composer,
// typing, the profile), and files dropped on it. A phone shows either the list or this pane.
import { api } from '/api.js';
import { acceptFileDrops } from '/attachments-draft.js';
import { clearComposer, focusComposer } from '/composer.js';
import { focusEntry } from '/conversation-list.js';
import { ensureConversation, openEntry, removeConversation, setUnread } from '/conversations.js';
import { clearLog, fillUp, logAlert, showLatest } from '/message-log.js';
import { focusFirstTool, setPanel } from '/panels.js';
import { followUsers } from '/presence.js';
import { hideProfile, syncProfileButton } from '/profile.js';
import { loadReceipts, markRead } from '/reads.js';
import { showPending } from '/sending.js';
import { publish, state, subscribe } from '/state.js';
import { clearTyping } from '/typing.js';
import { $, cmpId, isBusy, NARROW, setBusy } from '/ui.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').Conversation} Conversation */
/** @typedef {import('/state.js').ConversationEntry} ConversationEntry */
/** @typedef {import('/state.js').OpenConversation} OpenConversation */

/** Wires the pane of a freshly mounted main screen. */
export function setupConversation() {
  $('#back').addEventListener('click', closeConversation);
  $('#leave').addEventListener('click', leaveOpen);
  // Files dropped anywhere on the conversation join those waiting to be sent.
  acceptFileDrops($('#conv'));
}

/**
 * Opens a conversation of the list: its newest messages, the composer focused (the heading on a phone).
 * `reload`: the open one again, after a resync, keeping the focus and the draft.
 * @param {string} id
 * @param {{reload?: boolean}} [options]
 */
export async function openConversation(id, { reload = false } = {}) {
  const s = state;
  const e = s.conversations.get(id);
  if (!e) return;
  if (s.open?.id === id && !reload) {
    if (!NARROW.matches) focusComposer();
    return;
  }
  const prevOpen = s.open;
  /** @type {OpenConversation} */
  const o = {
    id, ids: [], data: new Map(), lo: 0, hi: 0, byId: new Map(), byNonce: new Map(), oldest: null, newest: null, loading: false, atStart: false, readSent: null, gen: ++s.openGen,
    reads: e.conv.kind === 'channel' ? null : new Map(),
    markAt: new Map(),
    typers: new Map(),
    sys: new Map(),
  };
  clearTyping(prevOpen);
  if (s.panel === 'invite') setPanel(null);
  s.open = o;
  const keepDraft = prevOpen?.id === id;
  $('#shell').classList.add('has-open');
  $('#placeholder').hidden = true;
  $('#conv').hidden = false;
  $('#conv-title').textContent = e.name;
  renderTopic(e.conv);
  hideProfile();
  renderConvTools(o, e);
  renderHeadPresence();
  clearLog();
  if (!keepDraft) clearComposer();
  setUnread(e, 0);
  publish('conversations');
  // On a phone, focusing the composer would cover the conversation with the keyboard: focus the heading.
  if (!reload) {
    if (NARROW.matches) $('#conv-title').focus({ preventScroll: true });
    else focusComposer({ preventScroll: true });
  }
  // Sends still waiting for their ack stay shown as pending.
  showPending(o);
  const messages = await showLatest(o);
  if (!messages || s.open !== o) return;
  // A conversation just joined or fetched alone comes without its last message: the newest page has it.
  const newest = messages[messages.length - 1];
  if (newest && (!e.last || cmpId(newest.id, e.last.id) > 0)) {
    e.last = newest;
    e.activity = newest.created_at;
    publish('conversations');
  }
  markRead();
  loadReceipts(o);
  fillUp(o);
}

/** The open conversation's header tools: "Leave" (groups and channels) and a channel's join link. ("Invite" is
 * add-members.js's.)
 * @param {OpenConversation} o
 * @param {ConversationEntry} e */
function renderConvTools(o, e) {
  const s = state;
  const show = (/** @type {Conversation} */ c) => {
    $('#leave').hidden = c.kind === 'dm';
    $('#join-box').hidden = !(c.kind === 'channel' && c.join_url);
    $('#join-link').textContent = c.kind === 'channel' ? c.join_url || '' : '';
  };
  show(e.conv);
  if (e.conv.kind === 'dm') return;
  api('GET', `/v1/conversations/${e.id}`).then((c) => {
    if (state !== s) return;
    e.conv = { ...e.conv, ...c };
    if (s.open === o) show(e.conv);
    // Its topic, whether it is archived, and the user's role in it are as the server says now.
    publish('conversations');
    // A group's members are few: followed, their new names and avatars show here live too. (A channel's
    // could be thousands: their changes show on the next load.)
    if (c.kind === 'group') followUsers(c.members || []);
  }, () => {});
}

/** A channel's topic, under the header (none for DMs and groups, nor for a channel without one).
 * @param {Conversation} c */
function renderTopic(c) {
  const topic = c.kind === 'channel' ? (c.topic || '').trim() : '';
  const line = $('#conv-topic');
  line.hidden = !topic;
  line.textContent = topic;
}

/** The open DM's header: the partner's presence dot, and the "Profile of NAME" button. */
function renderHeadPresence() {
  const e = openEntry();
  const dot = $('#conv-presence');
  syncProfileButton();
  const isDm = e?.conv.kind === 'dm' && e.other && e.other !== state.me.id;
  const p = isDm ? state.presence.get(e.other) : null;
  dot.hidden = !p;
  if (p) {
    const label = p.online ? 'online' : 'offline';
    dot.className = `dot ${label}`;
    dot.setAttribute('aria-label', label);
    dot.title = label;
  }
}

async function leaveOpen() {
  const s = state;
  const o = s.open;
  const button = $('#leave');
  if (!o || isBusy(button)) return;
  setBusy(button, true);
  try {
    await api('POST', `/v1/conversations/${o.id}/leave`);
    if (state === s) removeConversation(o.id);
  } catch (err) {
    if (state === s && s.open === o && err.status !== 401) logAlert(`Could not leave: ${err.message}`);
  } finally {
    setBusy(button, false);
  }
}

/** Closes the open conversation; the focus goes back to its entry in the list, or, when it is gone (left),
 * to the start of the side's tools. */
export function closeConversation() {
  const s = state;
  const id = s.open?.id;
  clearTyping(s.open);
  hideProfile();
  if (s.panel === 'invite') setPanel(null);
  s.open = null;
  $('#shell').classList.remove('has-open');
  $('#conv').hidden = true;
  $('#placeholder').hidden = false;
  publish('conversations');
  if (!(s.conversations.has(id) && focusEntry(id))) focusFirstTool();
}

/**
 * A conversation just made or joined: into the list (fetched once, unless we know its `members`), the panels
 * closed, and open. False when it could not be listed, or the session changed meanwhile.
 * @param {AppState} s the session it was made in
 * @param {Conversation} conv
 * @param {string[]} [members]
 */
export async function enterConversation(s, conv, members) {
  if (state !== s) return false;
  const e = await ensureConversation(conv.id, conv.members || !members ? conv : { ...conv, members });
  if (!e || state !== s) return false;
  setPanel(null);
  openConversation(e.id);
  return true;
}

// The open conversation left the list (left here or elsewhere, or gone from a list read again): it closes. A
// group or channel renamed, or a channel's topic changed (here or by a moderator elsewhere), shows at once.
subscribe('conversations', () => {
  const s = state;
  if (!s?.open) return;
  const e = s.conversations.get(s.open.id);
  if (!e) return closeConversation();
  if (e.conv.kind === 'dm') return;
  const title = $('#conv-title');
  if (title.textContent !== e.name) title.textContent = e.name;
  renderTopic(e.conv);
});

subscribe('presence', () => state?.open && renderHeadPresence());

subscribe('user', (user) => {
  if (!state?.open || openEntry()?.other !== user.id) return;
  $('#conv-title').textContent = user.name;
  renderHeadPresence();
});
