// The composer: Enter sends (Shift+Enter starts a line), the box grows with the text, and a counter shows
// near the 10,000-character limit. Files wait above it (attachments-draft.js), pictures pasted into it among
// them; a message may be files alone, and "Send" waits, greyed, until every file is uploaded.
import { addFiles, draftState, setupAttachmentsDraft, takeAttachments } from '/attachments-draft.js';
import { takeQuote } from '/quote-draft.js';
import { forgetPicked, mentionsIn } from '/mention-picker.js';
import { sendMessage } from '/sending.js';
import { state } from '/state.js';
import { sendTyping } from '/typing.js';
import { $, fmtNumber, setBusy } from '/ui.js';

const MAX_TEXT = 10000;
const COUNTER_FROM = MAX_TEXT - 500;

const textarea = () => /** @type {HTMLTextAreaElement} */ ($('#msg'));

/** Wires the composer of a freshly mounted main screen. */
export function setupComposer() {
  const form = $('#composer');
  const ta = textarea();
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      sendDraft();
    }
  });
  ta.addEventListener('input', composerInput);
  ta.addEventListener('input', () => sendTyping(ta.value));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendDraft();
  });
  // A picture pasted (a screenshot, say) joins the files; text pastes as text.
  ta.addEventListener('paste', (ev) => {
    const files = [...(ev.clipboardData?.files || [])];
    if (!files.length) return;
    ev.preventDefault();
    addFiles(files);
  });
  setupAttachmentsDraft(syncSend);
}

/** Shows the composer, or hides it where no one may write (an archived channel).
 * @param {boolean} shown */
export function showComposer(shown) {
  $('#composer').hidden = !shown;
}

/** "Send" is greyed (aria-disabled, keeping the focus) while a file uploads or one failed and stays. */
function syncSend() {
  const { uploading, failed } = draftState();
  setBusy($('#send'), uploading > 0 || failed > 0);
}

/** Characters as the server counts them (Unicode scalar values): an emoji is one, not two UTF-16 units.
 * @param {string} text */
const charCount = (text) => (text.length < COUNTER_FROM ? text.length : [...text].length);

/** The counter and the box's height follow the text. */
function composerInput() {
  const ta = textarea();
  const n = charCount(ta.value);
  const counter = $('#msg-counter');
  counter.hidden = n < COUNTER_FROM;
  counter.textContent = n < COUNTER_FROM ? '' : `${fmtNumber(n)} / ${fmtNumber(MAX_TEXT)}`;
  counter.classList.toggle('over', n > MAX_TEXT);
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
}

/** Empties the composer (another conversation opened). */
export function clearComposer() {
  textarea().value = '';
  forgetPicked();
  composerInput();
}

/** Puts the focus in the composer.
 * @param {FocusOptions} [options] */
export function focusComposer(options) {
  textarea().focus(options);
}

function sendDraft() {
  const s = state;
  const o = s.open;
  const ta = textarea();
  const text = ta.value;
  const files = draftState();
  if (!o || files.uploading || files.failed || charCount(text) > MAX_TEXT) return;
  if (!text.trim() && !files.ready) return;
  const mentions = mentionsIn(text);
  const { ids, files: attached } = files.ready ? takeAttachments() : { ids: [], files: [] };
  sendMessage(o, text.trim() ? text : '', { ...takeQuote(o.id), ...(mentions ? { mentions } : {}), ...(ids.length ? { attachments: ids } : {}) }, attached);
  forgetPicked();
  ta.value = '';
  composerInput();
  ta.focus();
}
