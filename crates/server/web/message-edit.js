// Editing one's own messages: "Edit" in a message's tools, or Up in an empty composer for the last one. The
// text turns into an editor in place (Enter saves with PATCH, Shift+Enter starts a line, Escape cancels). An
// edited message says "(edited)", with when in its name and tooltip; clicking it shows the earlier versions
// (`GET .../edits`). A `message.updated` event shows another device's or person's edit live. A read-only
// conversation (an archived channel) offers no "Edit", and an edit under way there hides until it is
// writable again, its draft kept, as the composer's is.
import { api } from '/api.js';
import { isReadOnly } from '/conversations.js';
import { openDialog } from '/dialog.js';
import { mentionsIn } from '/mention-picker.js';
import { jumpToEnd } from '/message-log.js';
import { fillArticle, onArticleFilled, registerMessageTool } from '/message.js';
import { renderMessageText } from '/message-text.js';
import { publish, state } from '/state.js';
import { $, fullTime, h, isBusy, setBusy } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').OpenConversation} OpenConversation */

/** The message being edited, and its editor (kept while the windowed log drops and renders the article
 * again, so the draft and the focus survive). `from`: where the focus goes back to. */
/** @type {{conversationId: string, messageId: string, box: HTMLElement, from: 'composer' | 'message'} | null} */
let editing = null;

registerMessageTool((art, m) => {
  if (m.author_id !== state.me.id || isReadOnly(m.conversation_id)) return [];
  const b = h('button', { type: 'button', dataset: { key: 'tool:edit' } }, 'Edit');
  b.addEventListener('click', () => startEdit(m.conversation_id, m.id, 'message'));
  return [b];
});

onArticleFilled((art, m) => {
  if (m.edited_at && !m.deleted) art.querySelector('.msg-head').append(editedMark(m));
  const editingThis = editing?.messageId === m.id && editing.conversationId === m.conversation_id && !m.deleted
    && !isReadOnly(m.conversation_id);
  art.classList.toggle('editing', editingThis);
  if (editingThis) art.querySelector('.text').replaceChildren(editing.box);
});

/** Wires Up in an empty composer (editing the last message of one's own). */
export function setupMessageEdit() {
  editing = null;
  $('#msg').addEventListener('keydown', (ev) => {
    const ta = /** @type {HTMLTextAreaElement} */ (ev.target);
    if (ev.key !== 'ArrowUp' || ev.shiftKey || ev.altKey || ev.ctrlKey || ev.metaKey || ev.isComposing || ta.value !== '') return;
    const o = state.open;
    const me = state.me.id;
    const id = o && [...o.ids].reverse().find((x) => {
      const m = o.data.get(x);
      return m.author_id === me && !m.deleted;
    });
    if (!id) return;
    ev.preventDefault();
    startEdit(o.id, id, 'composer');
  });
}

/** "(edited)": when, in its name and tooltip; a click shows the earlier versions.
 * @param {Message} m */
function editedMark(m) {
  const when = fullTime(m.edited_at);
  const b = h('button', { type: 'button', class: 'edited', title: `Edited ${when}`, dataset: { key: 'edited' } },
    '(edited)', h('span', { class: 'vh' }, `, ${when}`));
  b.addEventListener('click', () => showHistory(m, b));
  return b;
}

/**
 * Turns message `messageId` of the open conversation into an editor.
 * @param {string} conversationId
 * @param {string} messageId
 * @param {'composer' | 'message'} from
 */
function startEdit(conversationId, messageId, from) {
  const o = state.open;
  if (o?.id !== conversationId) return;
  const m = o.data.get(messageId);
  if (!m || m.deleted || isReadOnly(conversationId)) return;
  if (editing) stopEdit();
  if (!o.byId.has(messageId)) jumpToEnd(o);
  const art = o.byId.get(messageId);
  if (!art) return;
  const hintId = `edit-hint-${messageId}`;
  const ta = /** @type {HTMLTextAreaElement} */ (h('textarea', { class: 'edit-box', 'aria-label': 'Edit message', 'aria-describedby': hintId, dataset: { key: 'edit-box' } }));
  ta.value = m.text ?? '';
  const status = h('span', { class: 'edit-status', role: 'status' });
  const box = h('div', { class: 'editor' }, ta,
    h('p', { class: 'edit-hint', id: hintId }, 'Enter to save, Shift+Enter for a new line, Escape to cancel. ', status));
  ta.addEventListener('keydown', (ev) => {
    if (ev.isComposing) return;
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      save(ta, status);
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      stopEdit();
    }
  });
  ta.addEventListener('input', () => grow(ta));
  editing = { conversationId, messageId, box, from };
  fillArticle(art, m);
  art.scrollIntoView({ block: 'nearest' });
  grow(ta);
  ta.focus();
  ta.setSelectionRange(ta.value.length, ta.value.length);
}

/** @param {HTMLTextAreaElement} ta */
function grow(ta) {
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
}

/** Leaves the editor without saving; the focus goes back where the edit began. */
function stopEdit() {
  const was = editing;
  editing = null;
  const o = state.open;
  if (!was || o?.id !== was.conversationId) return;
  const art = o.byId.get(was.messageId);
  const m = o.data.get(was.messageId);
  if (art && m) fillArticle(art, m);
  if (was.from === 'composer') $('#msg').focus();
  else art?.focus();
}

/** Saves the editor's text (unchanged: nothing to save).
 * @param {HTMLTextAreaElement} ta
 * @param {HTMLElement} status */
async function save(ta, status) {
  const s = state;
  const was = editing;
  const text = ta.value;
  if (!was || isBusy(ta)) return;
  const m = s.open?.data.get(was.messageId);
  if (!text.trim()) {
    status.textContent = 'A message cannot be empty: delete it instead.';
    return;
  }
  if (m && text === m.text) return stopEdit();
  setBusy(ta, true);
  try {
    const mentions = mentionsIn(text) ?? { user_ids: [], channel: false, here: false };
    const updated = await api('PATCH', `/v1/conversations/${was.conversationId}/messages/${was.messageId}`, { text, mentions });
    if (state !== s || editing !== was) return;
    stopEdit();
    await applyUpdated(updated);
  } catch (err) {
    if (state === s && editing === was) status.textContent = `Not saved: ${err.message}`;
  } finally {
    setBusy(ta, false);
  }
}

/**
 * A message as it is now, after an edit (ours answered, or a `message.updated` event): in the list's entry
 * and the open log.
 * @param {Message} m
 */
export async function applyUpdated(m) {
  const s = state;
  await Promise.all((m.mentions?.user_ids || []).map(getUser));
  if (state !== s) return;
  const e = s.conversations.get(m.conversation_id);
  if (e?.last?.id === m.id) {
    e.last = { ...e.last, ...m };
    publish('conversations');
  }
  const o = s.open?.id === m.conversation_id ? s.open : null;
  const prev = o?.data.get(m.id);
  if (!prev) return;
  const now = { ...prev, ...m };
  o.data.set(m.id, now);
  const art = o.byId.get(m.id);
  if (art) fillArticle(art, now);
}

/** The dialog of a message's earlier versions, oldest first, then the text as it is now.
 * @param {Message} m
 * @param {HTMLElement} opener */
async function showHistory(m, opener) {
  const list = h('ol', { class: 'edit-history' });
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…');
  openDialog('Earlier versions', [status, list], { opener, className: 'history-dialog' });
  const context = { conversationId: m.conversation_id, authorId: m.author_id, messageId: m.id, pending: false };
  const version = (/** @type {string} */ label, /** @type {string} */ iso, /** @type {string} */ text) => h('li', { class: 'edit-version' },
    h('p', { class: 'edit-when' }, label, ' ', h('time', { datetime: iso }, fullTime(iso))),
    h('div', { class: 'text' }, renderMessageText(text, context)));
  try {
    const { edits } = await api('GET', `/v1/conversations/${m.conversation_id}/messages/${m.id}/edits`);
    list.replaceChildren(...edits.map((/** @type {{text: string, written_at: string}} */ v) => version('Written', v.written_at, v.text)),
      version('Now, edited', m.edited_at, m.text ?? ''));
    status.textContent = `${edits.length} earlier version${edits.length === 1 ? '' : 's'}`;
  } catch (err) {
    status.textContent = `Could not load the earlier versions: ${err.message}`;
  }
}
