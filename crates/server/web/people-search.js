// The colleague search ("Find a colleague"): one input with its results, which moves into whichever panel
// uses it (a new DM, a new group, inviting into the open conversation). Each use says what a pick does.
import { api } from '/api.js';
import { state } from '/state.js';
import { $, h, liveSearch } from '/ui.js';

/** @typedef {import('/state.js').User} User */

/** What picking a result does, for the panel that uses the search now.
 * @type {(user: User, button: HTMLElement) => void} */
let pick = () => {};
let search = /** @type {{now: () => unknown, reset: () => void} | null} */ (null);

const HINT = 'Type a name or username.';

/** Wires the search of a freshly mounted main screen. */
export function setupPeopleSearch() {
  const input = /** @type {HTMLInputElement} */ ($('#dm-q'));
  const results = $('#dm-results');
  const hint = $('#dm-hint');
  search = liveSearch(input, async (q, current) => {
    const s = state;
    if (!q) {
      results.replaceChildren();
      hint.textContent = HINT;
      return;
    }
    try {
      const { users } = await api('GET', `/v1/users?q=${encodeURIComponent(q)}`);
      if (!current() || state !== s) return;
      const others = users.filter((u) => u.id !== s.me.id);
      hint.textContent = others.length ? `${others.length} found.` : 'Nobody found.';
      results.replaceChildren(...others.map((u) => {
        // Named by what it shows first (the name); the handle describes it.
        const handle = `person-handle-${u.id}`;
        const b = h('button', { type: 'button', class: 'person', 'aria-describedby': handle },
          h('span', { class: 'person-name' }, u.name), ' ', h('span', { class: 'person-handle', id: handle, 'aria-hidden': 'true' }, `@${u.username}`));
        b.addEventListener('click', () => pick(u, b));
        return h('li', {}, b);
      }));
    } catch (e) {
      if (current()) hint.textContent = e.message;
    }
  });
}

/** Empties the search: no query, no results, the first hint. */
export function resetPeopleSearch() {
  search.reset();
  $('#dm-results').replaceChildren();
  $('#dm-hint').textContent = HINT;
}

/**
 * Moves the search into `slot` (at its start with `place` 'prepend', else at its end), emptied, for a panel
 * whose picks `onPick` handles.
 * @param {string} slot a selector
 * @param {'prepend' | 'append'} place
 * @param {(user: User, button: HTMLElement) => void} onPick
 */
export function usePeopleSearch(slot, place, onPick) {
  resetPeopleSearch();
  pick = onPick;
  $(slot)[place]($('#people-search'));
}

/** Puts the focus in the search field. */
export function focusPeopleSearch() {
  $('#dm-q').focus();
}

/** Clears the query and the results (not a search under way), says `text`, and puts the focus back in the
 * field, ready for the next colleague.
 * @param {string} text */
export function clearPeopleQuery(text) {
  /** @type {HTMLInputElement} */ ($('#dm-q')).value = '';
  $('#dm-results').replaceChildren();
  $('#dm-hint').textContent = text;
  focusPeopleSearch();
}

/** Says something under the search field (what a pick did, or why it failed).
 * @param {string} text */
export function sayUnderPeopleSearch(text) {
  $('#dm-hint').textContent = text;
}
