// Administration's "People" tab: the organization's people (`GET /v1/admin/people`), deactivated ones included,
// a table of name, username, email, role, status and last seen, searched by the start of a name, username or
// email and read a page at a time ("Load more"). A person's role is changed with their row's select, and
// their account deactivated or reactivated with its button, after a question. What the server refuses (an
// administrator managing an owner or administrator, the last owner, deactivating oneself) is said on that
// person's row. Imported the first time the tab shows (admin.js).
import { deactivate, listPeople, reactivate, setRole } from '/api.js';
import { confirmDialog } from '/dialog.js';
import { state } from '/state.js';
import { h, isBusy, liveSearch, setBusy, shortTime } from '/ui.js';
import { knowUser, refreshMe, updateUser } from '/users.js';

/** @typedef {import('/api.js').Person} Person */
/** @typedef {import('/state.js').Role} Role */

/** The roles, in the order the select offers them. @type {Record<Role, string>} */
const ROLES = { owner: 'Owner', admin: 'Administrator', member: 'Member', guest: 'Guest' };

/** The refusals a person's row explains in words of its own; any other says the server's sentence.
 * @type {Record<string, string>} */
const REFUSALS = {
  forbidden_role: 'Only an owner can manage owners and administrators, or make someone one.',
  last_owner: 'The organization must keep an active owner: make someone else an owner first.',
  cannot_deactivate_yourself: 'You cannot deactivate your own account.',
  not_admin: 'You are no longer an owner or administrator.',
};

/** The page of each mounted tab panel (each login mounts a new one): reading it afresh. */
const pages = /** @type {WeakMap<HTMLElement, {reload: () => void}>} */ (new WeakMap());

/** Shows the tab's page in `panel` (built the first time), with the people read afresh.
 * @param {HTMLElement} panel */
export function showPeople(panel) {
  let page = pages.get(panel);
  if (!page || !panel.querySelector('.people-table')) {
    page = buildPage(panel);
    pages.set(panel, page);
  }
  page.reload();
}

/** @param {HTMLElement} panel */
function buildPage(panel) {
  const s = state;
  const input = /** @type {HTMLInputElement} */ (h('input', {
    id: 'admin-people-q', type: 'search', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'admin-people-hint',
  }));
  const status = h('p', { id: 'admin-people-status', class: 'hint', role: 'status' });
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'load-more', hidden: true }, 'Load more');
  const table = h('table', { class: 'admin-table people-table', 'aria-label': 'People' },
    h('thead', {}, h('tr', {},
      ...['Name', 'Username', 'Email', 'Role', 'Status', 'Last seen'].map((title) => h('th', { scope: 'col' }, title)),
      h('th', { scope: 'col' }, h('span', { class: 'vh' }, 'Account')))),
    rows);
  panel.replaceChildren(
    h('div', { class: 'field admin-search', role: 'search' },
      h('label', { for: input.id }, 'Search people'),
      input,
      h('p', { id: 'admin-people-hint', class: 'hint' }, 'The start of a name, username or email.')),
    status,
    h('div', { class: 'admin-table-wrap' }, table),
    more);

  /** The page's query and where the next page starts; a new search starts a new generation, so the answers
   * of an older one are dropped. */
  let shown = { q: '', next: /** @type {string | null} */ (null), count: 0, generation: 0 };

  /** Reads the first page for `q` (or, with `after`, the next one) and shows it.
   * @param {string} q
   * @param {string | null} after
   * @param {() => boolean} isCurrent */
  async function load(q, after, isCurrent) {
    const generation = after ? shown.generation : shown.generation + 1;
    if (!after) {
      shown = { q, next: null, count: 0, generation };
      // The rows shown are about to be replaced: what is done on them meanwhile would be lost with them.
      table.setAttribute('aria-busy', 'true');
    }
    setBusy(more, true);
    try {
      const answer = await listPeople(q, after);
      if (state !== s || !isCurrent() || shown.generation !== generation) return;
      for (const person of answer.people) if (!s.users.has(person.user.id)) knowUser(s, person.user);
      const added = answer.people.map(row);
      const moreFocused = document.activeElement === more; // before it may hide, which moves the focus
      if (after) rows.append(...added);
      else rows.replaceChildren(...added);
      shown.next = answer.next ?? null;
      shown.count += added.length;
      more.hidden = !shown.next;
      status.textContent = shown.count === 0
        ? (q ? 'No one found.' : 'No one yet.')
        : `${shown.count} ${shown.count === 1 ? 'person' : 'people'}${shown.next ? ', more below' : ''}.`;
      // "Load more" went with the last page: the focus goes to the first row it brought (or the last one
      // shown, when the page was empty), not to the page.
      if (after && more.hidden && moreFocused) (added[0] ?? rows.lastElementChild)?.querySelector('select')?.focus();
    } catch (err) {
      if (state === s && isCurrent() && err.status !== 401) status.textContent = `Could not read the people: ${refusal(err)}`;
    } finally {
      setBusy(more, false);
      if (shown.generation === generation) table.removeAttribute('aria-busy');
    }
  }

  const search = liveSearch(input, (q, isCurrent) => load(q, null, isCurrent));
  more.addEventListener('click', () => {
    if (!isBusy(more) && shown.next) load(shown.q, shown.next, () => true);
  });
  return { reload: () => search.now() };
}

/** One person's row: their name (and "(you)"), username, email, role (a select), status, last seen, and
 * "Deactivate" or "Reactivate"; a refusal shows under the select or the button.
 * @param {Person} person
 * @returns {HTMLElement} */
function row(person) {
  const u = person.user;
  const tr = h('tr', { dataset: { userId: u.id } });
  fillRow(tr, person);
  return tr;
}

/** @param {HTMLElement} tr
 * @param {Person} person */
function fillRow(tr, person) {
  const u = person.user;
  const me = u.id === state.me.id;
  // What the server refused is said under the control that asked, and describes it.
  const roleError = h('p', { id: `role-error-${u.id}`, class: 'row-error', role: 'alert' });
  const accountError = h('p', { id: `account-error-${u.id}`, class: 'row-error', role: 'alert' });
  const select = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': `Role of ${u.name}`, 'aria-describedby': roleError.id, dataset: { key: 'role' } },
    ...Object.entries(ROLES).map(([value, label]) => h('option', { value, selected: value === u.role }, label))));
  select.addEventListener('change', () => changeRole(tr, person, select, roleError));
  const deactivated = !!person.deactivated_at;
  const action = h('button', {
    type: 'button',
    class: deactivated ? '' : 'danger',
    'aria-label': `${deactivated ? 'Reactivate' : 'Deactivate'} ${u.name}`,
    'aria-describedby': accountError.id,
    dataset: { key: 'active' },
  }, deactivated ? 'Reactivate' : 'Deactivate');
  action.addEventListener('click', () => changeActive(tr, person, action, accountError));
  tr.classList.toggle('deactivated', deactivated);
  tr.replaceChildren(
    h('th', { scope: 'row', class: 'person-name' }, u.name, me ? h('span', { class: 'hint' }, ' (you)') : null),
    h('td', { class: 'person-username' }, u.username ?? ''),
    h('td', { class: 'person-email' }, person.email),
    h('td', { class: 'person-role' }, select, roleError),
    h('td', {}, deactivated
      ? h('span', { class: 'person-status over', title: `Since ${shortTime(person.deactivated_at)}` }, 'Deactivated')
      : h('span', { class: 'person-status' }, 'Active')),
    h('td', {}, person.last_seen ? h('time', { datetime: person.last_seen }, shortTime(person.last_seen)) : 'Never'),
    h('td', { class: 'person-account' }, action, accountError));
}

/** The person's row shows them as the server answered, and the rest of the client knows (their role, whether
 * they are deactivated: their messages say so); the focus stays on the control that had it.
 * @param {HTMLElement} tr
 * @param {Person} person */
function showChanged(tr, person) {
  const key = tr.contains(document.activeElement) ? /** @type {HTMLElement} */ (document.activeElement).dataset.key : null;
  fillRow(tr, person);
  if (key) /** @type {HTMLElement | null} */ (tr.querySelector(`[data-key="${key}"]`))?.focus();
  updateUser(person.user);
}

/** What a refusal says on the person's row. A `not_admin` means the user's role changed unseen: their own
 * profile is read again, and Administration goes.
 * @param {any} err */
function refusal(err) {
  if (err.code === 'not_admin') refreshMe();
  if (err.status === 404) return 'This person is no longer in your organization.';
  return REFUSALS[err.code] ?? err.message;
}

/**
 * @param {HTMLElement} tr
 * @param {Person} person
 * @param {HTMLSelectElement} select
 * @param {Element} error
 */
async function changeRole(tr, person, select, error) {
  const s = state;
  const role = /** @type {Role} */ (select.value);
  error.textContent = '';
  if (isBusy(select)) return;
  setBusy(select, true);
  try {
    const changed = await setRole(person.user.id, role);
    if (state === s) showChanged(tr, changed);
  } catch (err) {
    if (state !== s || err.status === 401) return;
    select.value = person.user.role; // as it was
    error.textContent = `Role not changed: ${refusal(err)}`;
  } finally {
    setBusy(select, false);
  }
}

/** "Deactivate" (or "Reactivate"): asked first, then done; the focus comes back to the row's button.
 * @param {HTMLElement} tr
 * @param {Person} person
 * @param {HTMLElement} button
 * @param {Element} error */
async function changeActive(tr, person, button, error) {
  const s = state;
  if (isBusy(button)) return;
  const name = person.user.name;
  const deactivated = !!person.deactivated_at;
  error.textContent = '';
  const yes = deactivated
    ? await confirmDialog(`Reactivate ${name}?`, `${name} will be able to log in again with their password.`, 'Reactivate', { opener: button })
    : await confirmDialog(`Deactivate ${name}?`,
      `${name} is logged out on every device at once and cannot log in until an administrator reactivates the account. What they wrote stays.`,
      'Deactivate', { opener: button });
  if (!yes || state !== s || !button.isConnected) return;
  setBusy(button, true);
  try {
    const changed = await (deactivated ? reactivate(person.user.id) : deactivate(person.user.id));
    if (state === s) showChanged(tr, changed);
  } catch (err) {
    if (state !== s || err.status === 401) return;
    setBusy(button, false);
    error.textContent = `${deactivated ? 'Not reactivated' : 'Not deactivated'}: ${refusal(err)}`;
  }
}
