// Our sends: each is pending (with its nonce) until the server acknowledges it; one the server refuses stays,
// with why and a Retry button, in the log and in the list. realtime.js sends pending ops again after a
// reconnect; the nonce makes the server store each once.
import { jumpToEnd, placePending, scrollToEnd } from '/message-log.js';
import { markFailed, markSending } from '/message.js';
import { publish, state } from '/state.js';
import { uuid } from '/ui.js';

/** @typedef {import('/state.js').OpenConversation} OpenConversation */
/** @typedef {import('/state.js').PendingSend} PendingSend */

/** Sends `text` into the open conversation `o`; it shows as pending at the end of the log. `extra`: more
 * fields of the op (whom it mentions, a `quote`, `attachments`); `files`: the attachments, as the pending
 * message shows them.
 * @param {OpenConversation} o
 * @param {string} text
 * @param {import('/state.js').SendExtra} [extra]
 * @param {import('/state.js').Attachment[]} [files] */
export function sendMessage(o, text, extra = {}, files = []) {
  const s = state;
  /** @type {PendingSend} */
  const p = { nonce: uuid(), conversationId: o.id, text, ref: null, sentAt: Date.now(), extra, files };
  s.pending.set(p.nonce, p);
  jumpToEnd(o);
  placePending(o, p);
  scrollToEnd();
  p.ref = s.rt.send(sendOp(p));
}

/** The `send` op of a pending send.
 * @param {PendingSend} p */
const sendOp = (p) => ({ op: 'send', conversation_id: p.conversationId, text: p.text, nonce: p.nonce, ...p.extra });

/** Shows the sends of `o`'s conversation that are still pending, or refused, in its log (just opened).
 * @param {OpenConversation} o */
export function showPending(o) {
  for (const p of state.pending.values()) {
    if (p.conversationId !== o.id) continue;
    const art = placePending(o, p);
    if (p.failed) showRefused(art, p);
  }
}

/** The server acknowledged a send (the ack's `ref`): it is no longer pending. The stored message it carries
 * replaces the pending one in the log (matched by nonce).
 * @param {string} ref */
export function acknowledged(ref) {
  const s = state;
  const p = [...s.pending.values()].find((x) => x.ref === ref);
  if (p) s.pending.delete(p.nonce);
}

/** The server refused a send: it stays, marked, until retried, in the log when its conversation is open, and
 * in the list.
 * @param {{ref: string, code?: string, message?: string}} reply */
export function refused(reply) {
  const s = state;
  const p = [...s.pending.values()].find((x) => x.ref === reply.ref);
  if (!p) return;
  p.failed = reply.code === 'rate_limited' ? 'you are sending too fast; wait a moment.' : reply.message || reply.code;
  const art = s.open?.id === p.conversationId ? s.open.byNonce.get(p.nonce) : null;
  if (art) showRefused(art, p);
  publish('conversations');
}

/** @param {HTMLElement} art
 * @param {PendingSend} p */
function showRefused(art, p) {
  const s = state;
  markFailed(art, p.failed, () => {
    if (state !== s) return;
    markSending(art);
    p.failed = null;
    p.ref = s.rt.send(sendOp(p));
    publish('conversations');
  });
}
