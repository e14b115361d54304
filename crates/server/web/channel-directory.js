// "Channels": the channel directory (search, join or open) and the form that creates a channel. Guests have
// neither, so the button is not offered to them; the form shows only to those who may create channels
// (permissions.js), and both follow live as that changes.
import { api } from '/api.js';
import { enterConversation } from '/conversation.js';
import { registerPanel } from '/panels.js';
import { mayBrowseChannels, mayCreateChannels } from '/permissions.js';
import { state, subscribe } from '/state.js';
import { $, fmtNumber, h, isBusy, liveSearch, setBusy } from '/ui.js';

/** @typedef {import('/state.js').Conversation} Conversation */

/** The directory's search, for reading it again when what the user may do changes. */
let directory = /** @type {{now: () => void} | null} */ (null);

/** Registers the panel of a freshly mounted main screen. */
export function setupChannelDirectory() {
  const input = /** @type {HTMLInputElement} */ ($('#ch-q'));
  const results = $('#ch-results');
  const hint = $('#ch-hint');
  const form = /** @type {HTMLFormElement} */ ($('#channel-form'));
  const nameField = /** @type {HTMLInputElement} */ (form.elements.namedItem('name'));
  const handleField = /** @type {HTMLInputElement} */ (form.elements.namedItem('handle'));
  const alert = form.querySelector('[role="alert"]');
  const create = form.querySelector('button[type="submit"]');
  const search = liveSearch(input, async (q, current) => {
    const s = state;
    try {
      const { conversations } = await api('GET', `/v1/channels?q=${encodeURIComponent(q)}`);
      if (!current() || state !== s) return;
      hint.textContent = conversations.length
        ? `${conversations.length} channel${conversations.length === 1 ? '' : 's'}.`
        : q ? 'No channel found.' : mayCreateChannels() ? 'No channels yet. Create one below.' : 'No channels yet.';
      results.replaceChildren(...conversations.map((/** @type {Conversation} */ c) => {
        const member = s.conversations.has(c.id);
        const b = h('button', { type: 'button' }, `${member ? 'Open' : 'Join'} #${c.handle}`);
        b.addEventListener('click', () => go(c, member, b));
        const count = `${fmtNumber(c.member_count)} member${c.member_count === 1 ? '' : 's'}`;
        return h('li', { class: 'ch-item' },
          h('span', { class: 'ch-info' }, h('span', { class: 'ch-name' }, c.name || c.handle), ' ', h('span', { class: 'hint' }, count)),
          b);
      }));
    } catch (e) {
      if (current() && e.status !== 401) hint.textContent = e.message;
    }
  });
  directory = search;
  form.hidden = !mayCreateChannels();
  const reset = () => {
    search.reset();
    results.replaceChildren();
    hint.textContent = '';
    form.reset();
    alert.textContent = '';
  };
  /** Joins the channel unless the user is a member, and opens it.
   * @param {Conversation} c
   * @param {boolean} member
   * @param {HTMLElement} button */
  async function go(c, member, button) {
    const s = state;
    if (isBusy(button)) return;
    setBusy(button, true);
    try {
      if (!member) await api('POST', `/v1/conversations/${c.id}/join`);
      await enterConversation(s, c);
    } catch (err) {
      hint.textContent = err.message;
    } finally {
      setBusy(button, false);
    }
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const s = state;
    if (isBusy(create)) return;
    const name = nameField.value.trim();
    const handle = handleField.value.trim().replace(/^#/, '').toLowerCase();
    alert.textContent = '';
    if (!name || !handle) {
      alert.textContent = 'A channel needs a name and a handle.';
      (name ? handleField : nameField).focus();
      return;
    }
    setBusy(create, true);
    try {
      const conv = await api('POST', '/v1/conversations', { kind: 'channel', name, handle });
      if (state !== s) return;
      s.initial.set(conv.id, new Set([s.me.id]));
      await enterConversation(s, conv, [s.me.id]);
    } catch (err) {
      alert.textContent = err.message;
    } finally {
      setBusy(create, false);
    }
  });
  registerPanel('channels', {
    button: '#channels',
    section: '#channel-panel',
    open: () => {
      input.focus();
      search.now();
    },
    reset,
    offered: mayBrowseChannels,
  });
}

/** Shows the form that creates a channel only to those who may; the focus, if it was in the form, goes to the
 * search. An open directory is read again, so that its hint says what the user can do. */
function offerCreation() {
  const form = $('#channel-form');
  const offered = mayCreateChannels();
  if (form.hidden === !offered) return;
  const hadFocus = form.contains(document.activeElement);
  form.hidden = !offered;
  if (hadFocus) $('#ch-q').focus();
  if (!$('#channel-panel').hidden) directory?.now();
}

subscribe('permissions', () => state && offerCreation());
