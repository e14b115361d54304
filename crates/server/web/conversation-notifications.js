// What notifies the user in one conversation: "Notifications" in the conversation's header opens a panel with
// a choice of "All messages", "Mentions only" (channels) and "Mute", saved at once on the user's membership
// (`PATCH .../membership` with `muted` and `notify_always`). Nothing set, DMs and groups notify of every
// message and channels of mentions only.
import { updateMembership } from '/api.js';
import { openEntry } from '/conversations.js';
import { registerPanel, setPanel } from '/panels.js';
import { state, subscribe } from '/state.js';
import { $, h } from '/ui.js';

/** @typedef {import('/state.js').Conversation} Conversation */
/** @typedef {'all' | 'mentions' | 'mute'} NotifyLevel */

/** Each choice: its label, and the membership that says it. */
const LEVELS = {
  all: { label: 'All messages', patch: { muted: false, notify_always: true } },
  mentions: { label: 'Mentions only', patch: { muted: false, notify_always: false } },
  mute: { label: 'Mute', patch: { muted: true, notify_always: false } },
};

/** The choices a conversation offers. In a DM or a group every message notifies unless it is muted: the two
 * fields cannot say "mentions only" there, as not `notify_always` is their default of all messages.
 * @param {Conversation} conv
 * @returns {NotifyLevel[]} */
const choices = (conv) => (conv.kind === 'channel' ? ['all', 'mentions', 'mute'] : ['all', 'mute']);

/** What notifies the user in `conv` now, from their membership.
 * @param {Conversation} conv
 * @returns {NotifyLevel} */
export function notifyLevel(conv) {
  const membership = conv.membership;
  if (membership?.muted) return 'mute';
  if (membership?.notify_always || conv.kind !== 'channel') return 'all';
  return 'mentions';
}

/** The conversation the panel shows, while it is open. */
let shownFor = /** @type {string | null} */ (null);

/** Wires the panel of a freshly mounted main screen. */
export function setupConversationNotifications() {
  shownFor = null;
  registerPanel('notify', { button: '#notify-btn', section: '#notify', open: showPanel, reset: () => (shownFor = null) });
}

function showPanel() {
  const e = openEntry();
  const panel = $('#notify');
  if (!e) return;
  shownFor = e.id;
  const level = notifyLevel(e.conv);
  const status = h('p', { class: 'hint', role: 'status', id: 'notify-status' });
  const radios = choices(e.conv).map((key) => {
    const input = /** @type {HTMLInputElement} */ (h('input', { type: 'radio', name: 'notify-level', value: key, id: `notify-${key}` }));
    input.checked = key === level;
    input.addEventListener('change', () => input.checked && choose(e.id, key, status));
    return h('div', { class: 'check-field' }, input, h('label', { for: input.id }, LEVELS[key].label));
  });
  panel.replaceChildren(
    h('fieldset', { class: 'notify-levels' }, h('legend', {}, 'Notify me about'), ...radios),
    status);
  /** @type {HTMLInputElement} */ (panel.querySelector('input:checked'))?.focus();
}

/**
 * Saves choice `level` for conversation `conversationId`; when the server refuses, the choice goes back to
 * what was saved and the status says why.
 * @param {string} conversationId
 * @param {NotifyLevel} level
 * @param {HTMLElement} status
 */
async function choose(conversationId, level, status) {
  const s = state;
  status.textContent = 'Saving…';
  try {
    const membership = await updateMembership(conversationId, LEVELS[level].patch);
    const e = s.conversations.get(conversationId);
    if (state !== s || !e) return;
    e.conv = { ...e.conv, membership: { ...e.conv.membership, ...membership } };
    if (shownFor === conversationId) status.textContent = `Saved: ${LEVELS[level].label.toLowerCase()}.`;
  } catch (err) {
    if (state !== s || shownFor !== conversationId) return;
    const e = s.conversations.get(conversationId);
    const saved = e ? notifyLevel(e.conv) : null;
    for (const input of /** @type {NodeListOf<HTMLInputElement>} */ ($('#notify').querySelectorAll('input[name="notify-level"]'))) {
      input.checked = input.value === saved;
    }
    status.textContent = `Not saved: ${err.message}`;
  }
}

// Another conversation opened, or none is: the panel, which was about the one before, closes.
subscribe('conversations', () => {
  if (state?.panel === 'notify' && state.open?.id !== shownFor) setPanel(null);
});
