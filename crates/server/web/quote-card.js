// A quoted message's card (a message sent with `quote`, as "Reply privately" does): the quoted message's
// author and a snippet of its text, asked for once per session (`GET .../messages/{id}`) and kept. Activating
// it shows the original where it was written (the `open-message` notice). A 404 means the reader may not see
// it (not a member of its conversation, or no longer): the card says "Message unavailable".
import { api } from '/api.js';
import { describeAttachments } from '/attachment-view.js';
import { publish, state } from '/state.js';
import { h } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').QuoteRef} QuoteRef */
/** @typedef {import('/state.js').User} User */

/** What a quote shows: the message and its author, or null when unavailable. `value` once it is known.
 * @typedef {{promise: Promise<{m: Message, author: User} | null>, value?: {m: Message, author: User} | null}} Quoted */

/** Each session's quoted messages, by "conversation/message". */
const cache = /** @type {WeakMap<AppState, Map<string, Quoted>>} */ (new WeakMap());

/** The quoted message, asked for once (again after a failure other than a 404).
 * @param {QuoteRef} ref
 * @returns {Quoted} */
export function quoted(ref) {
  const s = state;
  if (!cache.has(s)) cache.set(s, new Map());
  const known = cache.get(s);
  const key = `${ref.conversation_id}/${ref.message_id}`;
  let q = known.get(key);
  if (!q) {
    /** @type {Quoted} */
    const entry = { promise: null };
    entry.promise = api('GET', `/v1/conversations/${ref.conversation_id}/messages/${ref.message_id}`).then(
      async (m) => {
        entry.value = { m, author: await getUser(m.author_id) };
        return entry.value;
      },
      (e) => {
        if (e.status === 404 || e.status === 403) {
          entry.value = null;
          return null;
        }
        known.delete(key); // not now (offline, say): asked again at the next render
        return null;
      },
    );
    known.set(key, entry);
    q = entry;
  }
  return q;
}

/** A snippet of a message's text for a card: one line, at most 140 characters.
 * @param {Message} m */
export function snippet(m) {
  if (m.deleted) return 'This message was deleted.';
  const text = (m.text || describeAttachments(m.attachments)).replace(/\s+/g, ' ').trim();
  return text.length > 140 ? `${text.slice(0, 140)}…` : text;
}

/** The card of a quote: filled at once when the message is known, else once it has been asked for.
 * @param {QuoteRef} ref
 * @returns {HTMLElement} */
export function quoteCard(ref) {
  const box = h('div', { class: 'quote' });
  const q = quoted(ref);
  const fill = (/** @type {{m: Message, author: User} | null | undefined} */ value) => {
    if (value === undefined) {
      box.replaceChildren(h('span', { class: 'quote-card loading' }, 'Loading the quoted message…'));
      return;
    }
    if (value === null) {
      box.replaceChildren(h('span', { class: 'quote-card unavailable' }, 'Message unavailable'));
      return;
    }
    const text = snippet(value.m);
    // Named "Quote of NAME: text", which holds what it shows ("NAME: text") as a spoken name should.
    const b = h('button', { type: 'button', class: 'quote-card', 'aria-label': `Quote of ${value.author.name}: ${text}`, dataset: { key: 'quote' } },
      h('span', { class: 'quote-author' }, value.author.name, ':'), ' ',
      h('span', { class: 'quote-text' }, text));
    b.addEventListener('click', () => publish('open-message', value.m));
    box.replaceChildren(b);
  };
  fill(q.value);
  if (!('value' in q)) q.promise.then((value) => fill(value ?? null));
  return box;
}
