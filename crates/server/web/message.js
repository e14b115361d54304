// One message of the log, as an <article>: its author, time and text, its reactions, the "React" toolbar and
// the delete buttons, and the read markers of those who read up to it. Also the article of a send still
// pending, and what it shows once refused.
import { avatar } from '/avatars.js';
import { deleteMessage, toggleReaction } from '/message-actions.js';
import { state } from '/state.js';
import { h, roving, shortTime } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').Message} Message */
/** @typedef {import('/state.js').PendingSend} PendingSend */
/** @typedef {import('/state.js').User} User */

/** The message each article shows now. */
const shown = /** @type {WeakMap<HTMLElement, Message>} */ (new WeakMap());

/** The message an article shows, if it shows a stored one.
 * @param {HTMLElement} art */
export const messageOf = (art) => shown.get(art);

/** A new, empty article for a stored message (fillArticle fills it). */
export const newArticle = () => h('article', { class: 'msg' });

/**
 * Fills an article from a stored message; synchronous, so an upsert cannot interleave with another. Keeps the
 * keyboard focus on the button that had it (a reaction toggled, say).
 * @param {HTMLElement} art
 * @param {Message} m
 */
export function fillArticle(art, m) {
  shown.set(art, m);
  const s = state;
  const author = s.names.get(m.author_id);
  if (author === undefined) {
    // Not known yet (a new member, say): shown once it is, unless the article was refilled since.
    getUser(m.author_id).then((u) => {
      if (shown.get(art) !== m) return;
      art.querySelector('.author').textContent = u.name;
      art.querySelector('.msg-head .avatar')?.replaceWith(avatar(u, 'avatar-sm'));
    });
  }
  art.dataset.state = 'sent';
  art.dataset.messageId = m.id;
  art.classList.toggle('mine', m.author_id === s.me.id);
  art.classList.toggle('deleted', !!m.deleted);
  const active = /** @type {HTMLElement} */ (document.activeElement);
  const focused = art.contains(active) ? active.dataset.key : null;
  const readBy = h('div', { class: 'read-by' });
  const o = s.open;
  if (o && o.byId.get(m.id) === art) fillReaders(readBy, o.markAt.get(m.id));
  art.replaceChildren(
    h('header', { class: 'msg-head' },
      avatar(s.users.get(m.author_id) || { id: m.author_id, name: author ?? '' }, 'avatar-sm'),
      h('span', { class: 'author' }, author ?? '…'),
      ' ',
      h('time', { datetime: m.created_at }, shortTime(m.created_at))),
    h('p', { class: 'text' }, m.deleted ? 'This message was deleted.' : m.text ?? ''),
    ...messageTools(art, m),
    readBy,
  );
  if (focused) {
    const again = /** @type {HTMLElement | null} */ (art.querySelector(`[data-key="${CSS.escape(focused)}"]`));
    if (again) again.focus({ preventScroll: true });
    else /** @type {HTMLElement | null} */ (art.closest('#log'))?.focus({ preventScroll: true });
  }
}

/** The reactions offered: [emoji as the API names it, the button's name, what it shows]. */
const REACTIONS = [
  ['like', 'Like', '👍'],
  ['🎉', 'React with 🎉', '🎉'],
  ['❤️', 'React with ❤️', '❤️'],
  ['😂', 'React with 😂', '😂'],
];
const emojiShown = (/** @type {string} */ emoji) => (emoji === 'like' ? '👍' : emoji);
const emojiName = (/** @type {string} */ emoji) => (emoji === 'like' ? 'Like' : emoji);

/** The reactions with their counts, the "React" toolbar and the delete buttons of a stored message.
 * @param {HTMLElement} art
 * @param {Message} m
 * @returns {HTMLElement[]} */
function messageTools(art, m) {
  const me = state.me.id;
  const out = [];
  const actions = h('div', { class: 'msg-actions' });
  if (!m.deleted) {
    const reactions = (m.reactions || []).filter((r) => r.user_ids?.length);
    /** Toggles the reaction as the article shows it when clicked. */
    const toggle = (/** @type {string} */ emoji, /** @type {HTMLElement} */ button) => () => toggleReaction(shown.get(art), emoji, button);
    if (reactions.length) {
      const counts = h('div', { class: 'reactions', role: 'toolbar', 'aria-label': 'Reactions' }, ...reactions.map((r) => {
        const mine = r.user_ids.includes(me);
        const b = h('button', {
          type: 'button',
          class: 'reaction',
          'aria-pressed': String(mine),
          'aria-label': `${emojiName(r.emoji)} ${r.user_ids.length}`,
          dataset: { key: `count:${r.emoji}`, emoji: r.emoji },
        }, h('span', { 'aria-hidden': 'true' }, emojiShown(r.emoji)), ' ', h('span', { class: 'count' }, String(r.user_ids.length)));
        b.addEventListener('click', toggle(r.emoji, b));
        return b;
      }));
      roving(counts);
      out.push(counts);
    }
    const bar = h('div', { class: 'react', role: 'toolbar', 'aria-label': 'React' }, ...REACTIONS.map(([emoji, label, face]) => {
      const mine = reactions.some((r) => r.emoji === emoji && r.user_ids.includes(me));
      const b = h('button', { type: 'button', 'aria-pressed': String(mine), 'aria-label': label, title: label, dataset: { key: `react:${emoji}` } }, face);
      b.addEventListener('click', toggle(emoji, b));
      return b;
    }));
    roving(bar);
    actions.append(bar);
    if (m.author_id === me) actions.append(deleteButton(art, 'everyone', 'Delete for everyone'));
  }
  actions.append(deleteButton(art, 'me', 'Delete for me'));
  out.push(actions);
  return out;
}

/** @param {HTMLElement} art
 * @param {'everyone' | 'me'} scope
 * @param {string} label */
function deleteButton(art, scope, label) {
  const b = h('button', { type: 'button', class: 'link danger', dataset: { key: `delete:${scope}` } }, label);
  b.addEventListener('click', () => deleteMessage(shown.get(art), scope, b));
  return b;
}

/** Shows, after a message, the markers of the members who have read up to it. Redraws only when they changed.
 * @param {HTMLElement} art
 * @param {string[] | undefined} userIds */
export function setReaders(art, userIds) {
  const box = /** @type {HTMLElement | null} */ (art.querySelector(':scope > .read-by'));
  if (box) fillReaders(box, userIds);
}

/** @param {HTMLElement} box
 * @param {string[] | undefined} userIds */
function fillReaders(box, userIds) {
  const s = state;
  const readers = (userIds || []).map((id) => s.users.get(id) || { id, name: s.names.get(id) || '…' });
  // The names and avatars are in the key: a reader who renames redraws the markers.
  const key = JSON.stringify(readers.map((u) => [u.id, u.name, u.avatar_url ?? null]));
  if (box.dataset.readers === key) return;
  box.dataset.readers = key;
  box.replaceChildren(...readers.map((u) => {
    const mark = avatar(u, 'avatar-xs');
    mark.removeAttribute('aria-hidden');
    mark.setAttribute('role', 'img');
    mark.setAttribute('aria-label', `Read by ${u.name}`);
    mark.title = `Read by ${u.name}`;
    mark.classList.add('read-mark');
    return mark;
  }));
}

/** The article of a send not acknowledged yet: "Sending…" (or why it was refused, with `markFailed`).
 * @param {PendingSend} p
 * @returns {HTMLElement} */
export function pendingArticle(p) {
  const me = state.me;
  return h('article', { class: 'msg mine', dataset: { state: 'pending', nonce: p.nonce } },
    h('header', { class: 'msg-head' },
      avatar(me, 'avatar-sm'),
      h('span', { class: 'author' }, me.name),
      ' ',
      h('span', { class: 'status' }, 'Sending…')),
    h('p', { class: 'text' }, p.text));
}

/** A pending send's article shows that it was refused, why, and a Retry button.
 * @param {HTMLElement} art
 * @param {string} reason
 * @param {() => void} onRetry */
export function markFailed(art, reason, onRetry) {
  art.dataset.state = 'failed';
  const retry = h('button', { type: 'button', class: 'link' }, 'Retry');
  retry.addEventListener('click', onRetry);
  art.querySelector('.status').replaceChildren(`Not sent: ${reason} `, retry);
}

/** A refused send's article shows it is being sent again.
 * @param {HTMLElement} art */
export function markSending(art) {
  art.dataset.state = 'pending';
  art.querySelector('.status').textContent = 'Sending…';
}
