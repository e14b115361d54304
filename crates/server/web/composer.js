// The composer: Enter sends (Shift+Enter starts a line), the box grows with the text, and a counter shows
// near the 10,000-character limit.
import { takeQuote } from '/quote-draft.js';
import { forgetPicked, mentionsIn } from '/mention-picker.js';
import { sendMessage } from '/sending.js';
import { state } from '/state.js';
import { sendTyping } from '/typing.js';
import { $, fmtNumber } from '/ui.js';

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
  if (!o || !text.trim() || charCount(text) > MAX_TEXT) return;
  const mentions = mentionsIn(text);
  sendMessage(o, text, { ...takeQuote(o.id), ...(mentions ? { mentions } : {}) });
  forgetPicked();
  ta.value = '';
  composerInput();
  ta.focus();
}
