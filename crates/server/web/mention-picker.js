// Mentions in the composer: typing `@` opens a list of the open conversation's members to mention (and
// `@channel`, `@here` in groups and channels, to those who may use them there: permissions.js), filtered as
// the name is typed. The keyboard picks: Up and Down
// move, Enter or Tab picks, Escape closes; a click picks too. Picking writes `@username ` into the text.
//
// The pattern is the ARIA combobox's, on a textarea: a textarea may take no other role than textbox, so it
// keeps it and carries `aria-autocomplete="list"`, `aria-controls` (the listbox, while it shows) and
// `aria-activedescendant` (the option chosen), while the focus stays in the text.
//
// At send time, `mentionsIn(text)` says whom the text mentions, as the API wants it: the people picked whose
// `@username` is still in the text (and anyone else of the conversation whose `@username` was typed out),
// and `@channel` or `@here` outside DMs.
import { api } from '/api.js';
import { openEntry } from '/conversations.js';
import { mayMentionEveryone } from '/permissions.js';
import { state, subscribe } from '/state.js';
import { $, h } from '/ui.js';
import { getUser } from '/users.js';

/** @typedef {import('/state.js').Mentions} Mentions */
/** @typedef {import('/state.js').User} User */

/** One choice of the list: a person, or `@channel` / `@here`. */
/** @typedef {{username: string, name: string, userId: string | null}} Candidate */

/** How many choices show at once. */
const MAX_SHOWN = 8;
/** Up to this many members, every member is asked for (once): the list filters them here. A bigger
 * conversation (a channel of thousands) is searched instead (`GET /v1/users?q=`), keeping its members. */
const ASK_ALL_UP_TO = 100;
/** `@` and the name typed so far, just before the caret; the `@` not inside a word or an address. */
const TYPED = /(?:^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{0,32})$/;
/** Every `@name` in a text. */
const ALL_NAMES = /(?:^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]+)/g;

/** The list while it shows: where the typed `@name` starts, its choices, which one is chosen.
 * @type {{start: number, choices: Candidate[], active: number} | null} */
let open = null;
/** Answers older than the newest question are dropped. */
let asked = 0;
/** The people picked for the draft of conversation `pickedIn`: their username (lower case) → id. */
const picked = new Map();
let pickedIn = '';

const textarea = () => /** @type {HTMLTextAreaElement} */ ($('#msg'));
const listbox = () => /** @type {HTMLElement} */ ($('#mention-list'));

/** Wires the picker into a freshly mounted composer. Its keys come before the composer's (Enter sends). */
export function setupMentionPicker() {
  const ta = textarea();
  const list = h('ul', { id: 'mention-list', class: 'mention-list', role: 'listbox', 'aria-label': 'People to mention', hidden: true });
  $('#composer').prepend(list);
  ta.setAttribute('aria-autocomplete', 'list');
  ta.addEventListener('input', () => refresh());
  ta.addEventListener('keydown', onKey, true);
  ta.addEventListener('blur', () => close());
  ta.addEventListener('click', () => refresh());
  // A press on an option would take the focus from the text: it picks instead.
  list.addEventListener('mousedown', (ev) => ev.preventDefault());
  list.addEventListener('click', (ev) => {
    const option = /** @type {HTMLElement} */ (/** @type {HTMLElement} */ (ev.target).closest('[role="option"]'));
    if (option && open) pick(open.choices[Number(option.dataset.index)]);
  });
}

/** Whether the list shows (the composer's own keys wait while it does). */
export const isPicking = () => open !== null;

/** @param {KeyboardEvent} ev */
function onKey(ev) {
  if (!open || ev.isComposing || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const n = open.choices.length;
  const move = { ArrowDown: 1, ArrowUp: n - 1 }[ev.key];
  if (move !== undefined) {
    open.active = (open.active + move) % n;
    show();
  } else if ((ev.key === 'Enter' && !ev.shiftKey) || (ev.key === 'Tab' && !ev.shiftKey)) {
    pick(open.choices[open.active]);
  } else if (ev.key === 'Escape') {
    close();
  } else {
    return;
  }
  ev.preventDefault();
  ev.stopImmediatePropagation();
}

/** Looks at the text before the caret: an `@name` being typed opens (or filters) the list; else it closes. */
async function refresh() {
  const ta = textarea();
  const e = openEntry();
  const typed = ta.selectionStart === ta.selectionEnd ? TYPED.exec(ta.value.slice(0, ta.selectionStart)) : null;
  if (!e || !typed) return close();
  const mine = ++asked;
  const query = typed[1].toLowerCase();
  const start = ta.selectionStart - typed[1].length - 1;
  const choices = await candidates(query);
  if (mine !== asked || openEntry() !== e || document.activeElement !== ta) return;
  if (!choices.length) return close();
  const keep = open?.start === start ? open.choices[open.active]?.username : null;
  const active = Math.max(0, choices.findIndex((c) => c.username === keep));
  open = { start, choices, active };
  show();
}

/** The open conversation's members (asked for when the list does not have them).
 * @returns {Promise<string[]>} */
async function members() {
  const e = openEntry();
  if (!e.conv.members) {
    const c = await api('GET', `/v1/conversations/${e.id}`).catch(() => null);
    if (c?.members) e.conv = { ...e.conv, members: c.members };
  }
  return e.conv.members || [];
}

/** The choices for `query` (lower case): members whose username or name starts with it (or a word of the
 * name does), usernames first; then `@channel` and `@here` outside DMs, if the user may use them there.
 * @param {string} query
 * @returns {Promise<Candidate[]>} */
async function candidates(query) {
  const s = state;
  const e = openEntry();
  const ids = (await members()).filter((id) => id !== s.me.id);
  /** @type {User[]} */
  let people;
  if (ids.length <= ASK_ALL_UP_TO) {
    people = await Promise.all(ids.map(getUser));
  } else {
    const inConversation = new Set(ids);
    const found = query ? (await api('GET', `/v1/users?q=${encodeURIComponent(query)}`).catch(() => ({ users: [] }))).users : [];
    const known = [...s.users.values()].filter((u) => inConversation.has(u.id));
    people = [...new Map([...known, ...found.filter((/** @type {User} */ u) => inConversation.has(u.id))].map((u) => [u.id, u])).values()];
  }
  const rank = (/** @type {User} */ u) => {
    if (u.username?.toLowerCase().startsWith(query)) return 0;
    if (u.name.toLowerCase().split(/\s+/).some((word) => word.startsWith(query))) return 1;
    return -1;
  };
  /** @type {Candidate[]} */
  const choices = people
    .filter((u) => u.username && rank(u) >= 0)
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))
    .map((u) => ({ username: u.username, name: u.name, userId: u.id }));
  if (e && e.conv.kind !== 'dm' && mayMentionEveryone(e.conv)) {
    for (const [username, name] of [['channel', 'Notify everyone in this conversation'], ['here', 'Notify everyone online']]) {
      if (username.startsWith(query)) choices.push({ username, name, userId: null });
    }
  }
  return choices.slice(0, MAX_SHOWN);
}

/** Shows the list as `open` says. */
function show() {
  const ta = textarea();
  const list = listbox();
  list.replaceChildren(...open.choices.map((c, i) => h('li', {
    id: `mention-option-${i}`,
    role: 'option',
    class: 'mention-option',
    'aria-selected': String(i === open.active),
    dataset: { index: String(i) },
  }, h('span', { class: 'mention-name' }, c.userId ? c.name : `@${c.username}`), ' ',
  h('span', { class: 'mention-handle' }, c.userId ? `@${c.username}` : c.name))));
  list.hidden = false;
  ta.setAttribute('aria-controls', list.id);
  ta.setAttribute('aria-activedescendant', `mention-option-${open.active}`);
  list.children[open.active]?.scrollIntoView({ block: 'nearest' });
}

function close() {
  asked++;
  open = null;
  const ta = textarea();
  const list = listbox();
  if (!list) return;
  list.hidden = true;
  list.replaceChildren();
  ta.removeAttribute('aria-controls');
  ta.removeAttribute('aria-activedescendant');
}

/** Writes `@username ` in place of the `@name` typed, and remembers whom it names.
 * @param {Candidate} choice */
function pick(choice) {
  const ta = textarea();
  const o = state.open;
  if (!choice || !open || !o) return close();
  if (pickedIn !== o.id) {
    picked.clear();
    pickedIn = o.id;
  }
  if (choice.userId) picked.set(choice.username.toLowerCase(), choice.userId);
  const insert = `@${choice.username} `;
  const before = ta.value.slice(0, open.start);
  const after = ta.value.slice(ta.selectionStart);
  ta.value = before + insert + after;
  const caret = before.length + insert.length;
  ta.setSelectionRange(caret, caret);
  close();
  ta.dispatchEvent(new Event('input'));
}

/**
 * Whom `text` mentions in the open conversation, as the API's `mentions`; null when nobody.
 * @param {string} text
 * @returns {Mentions | null}
 */
export function mentionsIn(text) {
  const s = state;
  const e = openEntry();
  if (!e) return null;
  const names = new Set([...text.matchAll(ALL_NAMES)].map((m) => m[1].replace(/\.+$/, '').toLowerCase()));
  const members = new Set(e.conv.members || []);
  const ids = new Set();
  if (pickedIn === e.id) for (const [username, id] of picked) if (names.has(username)) ids.add(id);
  for (const u of s.users.values()) {
    if (u.username && names.has(u.username.toLowerCase()) && members.has(u.id)) ids.add(u.id);
  }
  const everyone = e.conv.kind !== 'dm';
  /** @type {Mentions} */
  const mentions = { user_ids: [...ids].slice(0, 50), channel: everyone && names.has('channel'), here: everyone && names.has('here') };
  return mentions.user_ids.length || mentions.channel || mentions.here ? mentions : null;
}

// What the user may mention changed (the organization's settings, their role): a list that shows follows.
subscribe('permissions', () => {
  if (state && open) refresh();
});

/** Forgets whom the draft picked (it was sent, or another conversation opened). */
export function forgetPicked() {
  picked.clear();
  close();
}
