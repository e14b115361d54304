// The quote waiting above the composer ("Replying to NAME: snippet", with "Remove quote"), set by "Reply
// privately": the next send from the composer carries it (`quote`), and it goes. It also goes when another
// conversation opens.
import { snippet } from '/quote-card.js';
import { state, subscribe } from '/state.js';
import { $, h } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').QuoteRef} QuoteRef */

/** The quote waiting, in which conversation, and its card. */
let draft = /** @type {{conversationId: string, quote: QuoteRef, card: HTMLElement} | null} */ (null);

/**
 * Puts message `m` as the quote of the next send in conversation `conversationId` (open), above its composer.
 * @param {string} conversationId
 * @param {Message} m
 */
export async function setQuote(conversationId, m) {
  clearQuote();
  const remove = h('button', { type: 'button', class: 'quote-remove', 'aria-label': 'Remove quote', title: 'Remove quote' }, '×');
  const who = h('span', { class: 'quote-author' }, state.names.get(m.author_id) ?? '…');
  const card = h('div', { class: 'quote-draft', role: 'group', 'aria-label': 'Quote' },
    h('p', { class: 'quote-draft-text' }, 'Replying to ', who, ': ', h('span', { class: 'quote-text' }, snippet(m))),
    remove);
  draft = { conversationId, quote: { conversation_id: m.conversation_id, message_id: m.id }, card };
  remove.addEventListener('click', () => {
    clearQuote();
    // Back to the composer, which the card sat above (composer.js imports this module, not the reverse).
    /** @type {HTMLElement | null} */ ($('#msg'))?.focus();
  });
  $('#composer').before(card);
  if (!state.names.has(m.author_id)) who.textContent = (await getUser(m.author_id)).name;
}

/** The quote for a send in `conversationId`, taken (its card goes): `{quote}`, or `{}` when there is none.
 * @param {string} conversationId
 * @returns {{quote?: QuoteRef}} */
export function takeQuote(conversationId) {
  if (!draft || draft.conversationId !== conversationId) return {};
  const { quote } = draft;
  clearQuote();
  return { quote };
}

/** Drops the quote waiting, if any. */
export function clearQuote() {
  draft?.card.remove();
  draft = null;
}

// Another conversation opened (or this one closed): the quote was for this one.
subscribe('conversations', () => {
  if (draft && state?.open?.id !== draft.conversationId) clearQuote();
});
