// Pinned messages: "Pin" and "Unpin" in a message's tools, a marker on a pinned message, and the "Pinned"
// panel of the conversation's header listing its pins (`GET .../pins`, newest first), each opening its
// message. `pin.added` and `pin.removed` events keep it all live. The API's messages do not say whether they
// are pinned: the open conversation's pins are read when it opens, and kept up to date by the events. A
// read-only conversation (an archived channel) shows its pins but offers no "Pin" or "Unpin".
import { api } from '/api.js';
import { describeAttachments } from '/attachment-view.js';
import { isReadOnly } from '/conversations.js';
import { jumpToMessage } from '/message-jump.js';
import { fillArticle, onArticleFilled, registerMessageTool } from '/message.js';
import { registerPanel, setPanel } from '/panels.js';
import { state, subscribe } from '/state.js';
import { $, cmpId, fullTime, h, isBusy, setBusy, shortTime } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').Message} Message */
/** @typedef {{message: Message, pinned_by: string, pinned_at: string}} Pin */

/** The pinned message ids of the conversations whose pins were read in this session. */
const pinnedIn = /** @type {WeakMap<AppState, Map<string, Set<string>>>} */ (new WeakMap());
/** Which opening of a conversation (its `gen`) the pins were last read for. */
let readFor = -1;

/** @param {string} conversationId */
function pinsOf(conversationId) {
  const s = state;
  if (!pinnedIn.has(s)) pinnedIn.set(s, new Map());
  return pinnedIn.get(s).get(conversationId) || null;
}

/** @param {string} conversationId
 * @param {Set<string>} ids */
function setPins(conversationId, ids) {
  const s = state;
  if (!pinnedIn.has(s)) pinnedIn.set(s, new Map());
  pinnedIn.get(s).set(conversationId, ids);
}

const isPinned = (/** @type {Message} */ m) => !!pinsOf(m.conversation_id)?.has(m.id);

registerMessageTool((art, m) => {
  if (isReadOnly(m.conversation_id)) return [];
  const pinned = isPinned(m);
  const b = h('button', { type: 'button', dataset: { key: 'tool:pin' } }, pinned ? 'Unpin' : 'Pin');
  b.addEventListener('click', () => togglePin(m, b));
  return [b];
});

onArticleFilled((art, m) => {
  const pinned = !m.deleted && isPinned(m);
  art.classList.toggle('pinned', pinned);
  if (pinned) {
    art.querySelector('.msg-head').append(h('span', { class: 'pin-mark' }, 'Pinned'));
  }
});

/** Wires the "Pinned" panel of a freshly mounted main screen. */
export function setupPins() {
  readFor = -1;
  registerPanel('pins', { button: '#pins-btn', section: '#pins', open: () => showPanel(true) });
}

/** Pins or unpins message `m`.
 * @param {Message} m
 * @param {HTMLElement} button */
async function togglePin(m, button) {
  const s = state;
  if (isBusy(button)) return;
  const pinned = isPinned(m);
  setBusy(button, true);
  try {
    await api(pinned ? 'DELETE' : 'PUT', `/v1/conversations/${m.conversation_id}/messages/${m.id}/pin`);
    if (state === s) applyPin(m.conversation_id, m.id, !pinned);
  } catch {
    /* the button stays as it was */
  } finally {
    setBusy(button, false);
  }
}

/**
 * A message pinned or unpinned (our request answered, or a `pin.added` / `pin.removed` event).
 * @param {string} conversationId
 * @param {string} messageId
 * @param {boolean} pinned
 */
export function applyPin(conversationId, messageId, pinned) {
  const s = state;
  const ids = pinsOf(conversationId);
  if (!ids || ids.has(messageId) === pinned) return;
  if (pinned) ids.add(messageId);
  else ids.delete(messageId);
  const o = s.open?.id === conversationId ? s.open : null;
  const art = o?.byId.get(messageId);
  if (art) fillArticle(art, o.data.get(messageId));
  if (o && s.panel === 'pins') showPanel(false);
}

/** Reads the open conversation's pins: the markers show, and the panel lists them (when open).
 * @param {boolean} focus whether the panel takes the focus (just opened) */
async function showPanel(focus) {
  const s = state;
  const o = s.open;
  const panel = $('#pins');
  if (!o) return;
  if (focus) panel.replaceChildren(h('p', { class: 'hint', role: 'status' }, 'Loading…'));
  let pins;
  try {
    ({ pins } = await api('GET', `/v1/conversations/${o.id}/pins`));
  } catch (err) {
    if (s.open === o) panel.replaceChildren(h('p', { class: 'hint', role: 'status' }, `Could not load the pinned messages: ${err.message}`));
    return;
  }
  if (s.open !== o || state !== s) return;
  learn(o.id, pins);
  await Promise.all(pins.map((/** @type {Pin} */ p) => getUser(p.message.author_id)));
  if (s.open !== o || s.panel !== 'pins') return;
  const entries = pins.map((/** @type {Pin} */ p) => {
    const b = h('button', { type: 'button', class: 'pin-entry' },
      h('span', { class: 'pin-author' }, s.names.get(p.message.author_id) ?? '…'), ' ',
      h('time', { datetime: p.message.created_at, title: fullTime(p.message.created_at) }, shortTime(p.message.created_at)),
      h('span', { class: 'pin-text' }, p.message.deleted ? 'This message was deleted.' : p.message.text || describeAttachments(p.message.attachments)));
    b.addEventListener('click', () => {
      setPanel(null);
      jumpToMessage(o.id, p.message.id);
    });
    return h('li', {}, b);
  });
  const hadFocus = panel.contains(document.activeElement);
  panel.replaceChildren(
    h('h3', { class: 'chosen-title', id: 'pins-title' }, 'Pinned messages'),
    pins.length
      ? h('ul', { class: 'pin-list', 'aria-labelledby': 'pins-title' }, ...entries)
      : h('p', { class: 'hint' }, isReadOnly(o.id) ? 'Nothing is pinned here.' : 'Nothing is pinned here yet. "Pin" in a message\'s tools pins it.'));
  if (focus || hadFocus) /** @type {HTMLElement | null} */ (panel.querySelector('button'))?.focus();
}

/** Keeps what the server said is pinned, and shows the markers.
 * @param {string} conversationId
 * @param {Pin[]} pins */
function learn(conversationId, pins) {
  const s = state;
  const before = pinsOf(conversationId) || new Set();
  const now = new Set(pins.map((p) => p.message.id));
  setPins(conversationId, now);
  const o = s.open?.id === conversationId ? s.open : null;
  if (!o) return;
  for (const id of new Set([...before, ...now])) {
    if (before.has(id) === now.has(id)) continue;
    const art = o.byId.get(id);
    if (art) fillArticle(art, o.data.get(id));
  }
}

// The retention purge took the pins of the messages it deleted with them.
subscribe('event', (f) => {
  if (!state || f.type !== 'conversation.purged') return;
  for (const id of [...(pinsOf(f.conversation_id) || [])]) {
    if (cmpId(id, f.through) <= 0) applyPin(f.conversation_id, id, false);
  }
});

// Each opening of a conversation reads its pins once (its messages are rendered by then), and closes a
// "Pinned" panel left open for another conversation.
subscribe('rendered', (o) => {
  const s = state;
  if (!s || readFor === o.gen) return;
  readFor = o.gen;
  if (s.panel === 'pins') setPanel(null);
  api('GET', `/v1/conversations/${o.id}/pins`).then(({ pins }) => {
    if (state === s && s.open === o) learn(o.id, pins);
  }, () => {});
});
