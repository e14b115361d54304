// "New direct message" and "New group": the two panels that start a conversation with colleagues found
// with the colleague search.
import { api } from '/api.js';
import { enterConversation } from '/conversation.js';
import { registerPanel } from '/panels.js';
import { clearPeopleQuery, focusPeopleSearch, resetPeopleSearch, sayUnderPeopleSearch, usePeopleSearch } from '/people-search.js';
import { state } from '/state.js';
import { $, h, isBusy, setBusy } from '/ui.js';
import { knowUser } from '/users.js';

/** @typedef {import('/state.js').User} User */

/** Registers both panels of a freshly mounted main screen. */
export function setupNewConversation() {
  registerPanel('dm', {
    button: '#new-dm',
    section: '#dm-panel',
    open: () => {
      usePeopleSearch('#dm-panel', 'prepend', startDm);
      focusPeopleSearch();
    },
    reset: resetPeopleSearch,
  });
  const group = setupGroupPanel();
  registerPanel('group', {
    button: '#new-group',
    section: '#group-panel',
    open: () => {
      usePeopleSearch('#group-search-slot', 'append', group.add);
      $('#group-name').focus();
    },
    reset: () => {
      resetPeopleSearch();
      group.reset();
    },
  });
}

/** Opens the DM with `user` (the server gives the existing one if there is one).
 * @param {User} user
 * @param {HTMLElement} button */
async function startDm(user, button) {
  const s = state;
  if (isBusy(button)) return;
  setBusy(button, true);
  try {
    const conv = await api('POST', '/v1/conversations', { kind: 'dm', members: [user.id] });
    if (state !== s) return;
    knowUser(s, user);
    // The two members of a new DM join it as it is made: that is not news to show in it.
    s.initial.set(conv.id, new Set([s.me.id, user.id]));
    await enterConversation(s, conv, [s.me.id, user.id]);
  } catch (err) {
    sayUnderPeopleSearch(err.message);
  } finally {
    setBusy(button, false);
  }
}

/** The group form: a name, the colleagues chosen with the search, "Create group". */
function setupGroupPanel() {
  const form = /** @type {HTMLFormElement} */ ($('#group-form'));
  const nameField = /** @type {HTMLInputElement} */ (form.elements.namedItem('name'));
  const list = $('#group-chosen');
  const alert = form.querySelector('[role="alert"]');
  const button = form.querySelector('button[type="submit"]');
  const chosen = /** @type {Map<string, User>} */ (new Map());
  const render = () => {
    list.replaceChildren(...[...chosen.values()].map((u) => {
      const remove = h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${u.name}` }, 'Remove');
      remove.addEventListener('click', () => {
        chosen.delete(u.id);
        render();
        focusPeopleSearch();
      });
      return h('li', {}, h('span', { class: 'person-name' }, u.name), ' ', remove);
    }));
    $('#group-chosen-empty').hidden = chosen.size > 0;
  };
  const reset = () => {
    chosen.clear();
    render();
    form.reset();
    alert.textContent = '';
  };
  /** @param {User} u */
  const add = (u) => {
    knowUser(state, u);
    chosen.set(u.id, u);
    render();
    clearPeopleQuery(`${u.name} added. Find another colleague, or create the group.`);
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const s = state;
    if (isBusy(button)) return;
    const name = nameField.value.trim();
    alert.textContent = '';
    if (!name) {
      alert.textContent = 'Give the group a name.';
      nameField.focus();
      return;
    }
    if (!chosen.size) {
      alert.textContent = 'Choose at least one colleague.';
      focusPeopleSearch();
      return;
    }
    const members = [...chosen.keys()];
    setBusy(button, true);
    try {
      const conv = await api('POST', '/v1/conversations', { kind: 'group', name, members });
      if (state !== s) return;
      s.initial.set(conv.id, new Set([s.me.id, ...members]));
      await enterConversation(s, conv, [s.me.id, ...members]);
    } catch (err) {
      alert.textContent = err.message;
    } finally {
      setBusy(button, false);
    }
  });
  return { add, reset };
}
