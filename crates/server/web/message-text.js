// A message's text as it reaches the page: the one place that turns it into nodes. For now it is plain text,
// one text node, so `<b>` shows as `<b>`; formatting (markdown.js) will plug in here, and whatever it
// returns must be built from text nodes and elements it chose, never from HTML parsed out of the text.

/**
 * Where the text is shown, for a renderer that needs it (mentions of the user, links within the
 * conversation). `pending`: a send not acknowledged yet.
 * @typedef {{conversationId: string, authorId: string, messageId: string | null, pending: boolean}} MessageTextContext
 */

/**
 * The nodes showing message text `text`.
 * @param {string} text
 * @param {MessageTextContext} context
 * @returns {Node}
 */
export function renderMessageText(text, context) {
  return document.createTextNode(text);
}
