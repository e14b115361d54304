// Links to messages: "Copy link" in a message's tools puts `<origin>/#/c/CONVERSATION/m/MESSAGE` on the
// clipboard (or, where the page may not write to it, shows the link selected in a dialog, for Ctrl+C), and
// opening such an address, or going to it in an open page, opens the conversation at that message
// (message-jump.js). The route is in the fragment, so the server serves the same page for it, and it is
// taken out of the address bar once read, so following the same link again is a change the page hears.
import { openDialog } from '/dialog.js';
import { jumpToMessage } from '/message-jump.js';
import { registerMessageTool } from '/message.js';
import { state, subscribe } from '/state.js';
import { $, h } from '/ui.js';

/** `#/c/ID/m/ID`. */
const ROUTE = /^#\/c\/(\d+)\/m\/(\d+)$/;

/** A message link read from the address before the list was ready, waiting for it. */
/** @type {{conversationId: string, messageId: string} | null} */
let wanted = null;

/** The link to message `messageId` of conversation `conversationId`.
 * @param {string} conversationId
 * @param {string} messageId */
export const messageLink = (conversationId, messageId) => `${location.origin}/#/c/${conversationId}/m/${messageId}`;

registerMessageTool((art, m) => {
  const b = h('button', { type: 'button', dataset: { key: 'tool:link' } }, 'Copy link');
  b.addEventListener('click', () => copyLink(messageLink(m.conversation_id, m.id), b));
  return [b];
});

/** Puts `link` on the clipboard and says so; where the page may not, shows it selected in a dialog.
 * @param {string} link
 * @param {HTMLElement} button */
async function copyLink(link, button) {
  try {
    await navigator.clipboard.writeText(link);
    say('Link copied.');
  } catch {
    const id = 'message-link-field';
    const field = /** @type {HTMLInputElement} */ (h('input', { id, class: 'link-field', readonly: true, spellcheck: 'false', value: link, 'aria-describedby': 'message-link-hint' }));
    openDialog('Link to this message', [
      h('label', { for: id }, 'Link'),
      field,
      h('p', { class: 'hint', id: 'message-link-hint' }, 'This page may not use the clipboard: press Ctrl+C (⌘C on a Mac) to copy the link.'),
    ], { opener: button, className: 'link-dialog' });
    field.focus();
    field.select();
  }
}

/** Says something to screen readers and for a moment on screen, under the log.
 * @param {string} text */
function say(text) {
  let status = $('#link-status');
  if (!status) {
    status = h('p', { id: 'link-status', class: 'link-status', role: 'status' });
    $('#typing').after(status);
  }
  status.textContent = text;
  setTimeout(() => {
    if (status.textContent === text) status.textContent = '';
  }, 3000);
}

/** The message link in the address, if any, taken out of it.
 * @returns {{conversationId: string, messageId: string} | null} */
function takeLink() {
  const match = ROUTE.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return { conversationId: match[1], messageId: match[2] };
}

/** Reads a message link the page was opened with, to follow once the list has been read. */
export function setupPermalinks() {
  wanted = takeLink();
}

subscribe('listed', () => {
  if (!state || !wanted) return;
  const { conversationId, messageId } = wanted;
  wanted = null;
  jumpToMessage(conversationId, messageId);
});

// A link followed in an open page: only the fragment changes, nothing reloads.
window.addEventListener('hashchange', () => {
  const link = takeLink();
  if (!link) return;
  if (state?.listReady) jumpToMessage(link.conversationId, link.messageId);
  else wanted = link;
});
