// A message's text as it reaches the page: the one place that turns it into nodes. The text is formatted by
// markdown.js (its header says what it allows), which builds every element itself from a fixed list and
// never parses HTML, so `<b>` still shows as `<b>`.
//
// `@name` becomes a mention when `name` is the username of someone the client knows (the people of the
// organization it has met: members, authors, the people a message mentions); a mention of the reader is
// highlighted (`mention-self`). `@channel` and `@here` are always mentions.
import { renderMarkdown } from '/markdown.js';
import { state } from '/state.js';

/**
 * Where the text is shown, for a renderer that needs it (mentions of the user, links within the
 * conversation). `pending`: a send not acknowledged yet.
 * @typedef {{conversationId: string, authorId: string, messageId: string | null, pending: boolean}} MessageTextContext
 */

/**
 * Whether `@name` names someone known, and whether that is the reader.
 * @param {string} name
 * @returns {{self: boolean} | null}
 */
function mention(name) {
  const s = state;
  if (!s) return null;
  const wanted = name.toLowerCase();
  if (s.me.username?.toLowerCase() === wanted) return { self: true };
  for (const u of s.users.values()) {
    if (u.username?.toLowerCase() === wanted) return { self: u.id === s.me.id };
  }
  return null;
}

/**
 * The nodes showing message text `text`.
 * @param {string} text
 * @param {MessageTextContext} context
 * @returns {Node}
 */
export function renderMessageText(text, context) {
  return renderMarkdown(text, { mention });
}
