// Administration's "Invitations" tab: every invitation of the organization, whoever made it
// (`GET /v1/invites?all=true`, newest first, at most 100, never a token), in a table of who made it, when, when
// it expires, its uses and whether it can still be used; "Withdraw" on an active one asks first, then withdraws
// it (`DELETE /v1/invites/{id}`) and its row goes. What the server refuses is said on that row. Makers show by
// name when the client knows them or can ask (users.js). Imported the first time the tab shows (admin.js).
import { orgInvites, withdrawInvite } from '/api.js';
import { confirmDialog } from '/dialog.js';
import { inviteStatus } from '/invite-link.js';
import { state } from '/state.js';
import { fullTime, h, isBusy, setBusy, shortTime } from '/ui.js';
import { personName, refreshMe } from '/users.js';

/** @typedef {import('/api.js').OrgInvite} OrgInvite */

/** The page of each mounted tab panel (each login mounts a new one): reading it afresh. */
const pages = /** @type {WeakMap<HTMLElement, {reload: () => void}>} */ (new WeakMap());

/** Shows the tab's page in `panel` (built the first time), with the invitations read afresh.
 * @param {HTMLElement} panel */
export function showInvites(panel) {
  let page = pages.get(panel);
  if (!page || !panel.querySelector('.invites-table')) {
    page = buildPage(panel);
    pages.set(panel, page);
  }
  page.reload();
}

/** @param {HTMLElement} panel */
function buildPage(panel) {
  const s = state;
  const status = h('p', { class: 'hint', role: 'status', tabindex: '-1' });
  const rows = h('tbody');
  panel.replaceChildren(
    h('p', { class: 'hint' }, 'Every invitation link made in your organization, by anyone. A withdrawn link no longer lets anyone sign up; people who already joined with it stay.'),
    status,
    h('div', { class: 'admin-table-wrap' },
      h('table', { class: 'admin-table invites-table', 'aria-label': 'Invitations' },
        h('thead', {}, h('tr', {},
          ...['Made by', 'Made', 'Expires', 'Uses', 'Status'].map((title) => h('th', { scope: 'col' }, title)),
          h('th', { scope: 'col' }, h('span', { class: 'vh' }, 'Withdraw')))),
        rows)));

  /** Says how many invitations the table shows. */
  const count = () => {
    const n = rows.children.length;
    status.textContent = n === 0 ? 'No invitations.' : `${n} ${n === 1 ? 'invitation' : 'invitations'}, newest first.`;
  };
  /** A row went: the count says so, and the focus goes to `next` (the next row's "Withdraw") or the count.
   * @param {HTMLElement | null} next */
  const removed = (next) => {
    count();
    (next ?? status).focus();
  };
  let loads = 0;

  async function load() {
    const mine = ++loads;
    try {
      const invites = await orgInvites();
      if (state !== s || mine !== loads) return;
      rows.replaceChildren(...invites.map((invite) => row(invite, removed)));
      count();
    } catch (err) {
      if (state !== s || mine !== loads || err.status === 401) return;
      // The user's role changed unseen: their profile is read again, and Administration goes.
      if (err.code === 'not_admin') refreshMe();
      status.textContent = `Could not read the invitations: ${err.message}`;
    }
  }
  return { reload: () => load() };
}

/** One invitation's row: its maker ("(you)" for one's own), when it was made and expires, its uses, its status,
 * and "Withdraw" while it is active, with the row's alert under it.
 * @param {OrgInvite} invite
 * @param {(next: HTMLElement | null) => void} removed called once the row has gone, with where the focus goes
 * @returns {HTMLElement} */
function row(invite, removed) {
  const status = inviteStatus(invite);
  const mine = invite.created_by === state.me.id;
  const maker = h('th', { scope: 'row', id: `invite-maker-${invite.id}` },
    personName(invite.created_by), mine ? h('span', { class: 'hint' }, ' (you)') : null);
  const error = h('p', { id: `invite-error-${invite.id}`, class: 'row-error', role: 'alert' });
  let action = null;
  if (status === 'Active') {
    action = h('button', {
      type: 'button',
      class: 'danger',
      id: `invite-withdraw-${invite.id}`,
      // "Withdraw", then whose and when: the column holds one for each active invitation.
      'aria-labelledby': `invite-withdraw-${invite.id} invite-maker-${invite.id} invite-made-${invite.id}`,
      'aria-describedby': error.id,
    }, 'Withdraw');
    action.addEventListener('click', () => withdraw(invite, tr, /** @type {HTMLElement} */ (action), error, removed));
  }
  const tr = h('tr', { dataset: { inviteId: invite.id } },
    maker,
    h('td', {}, h('time', { id: `invite-made-${invite.id}`, datetime: invite.created_at, title: fullTime(invite.created_at) }, shortTime(invite.created_at))),
    h('td', {}, h('time', { datetime: invite.expires_at, title: fullTime(invite.expires_at) }, shortTime(invite.expires_at))),
    h('td', {}, `${invite.uses} of ${invite.max_uses}`),
    h('td', {}, h('span', { class: `invite-state${status === 'Active' ? '' : ' over'}` }, status)),
    h('td', {}, action, error));
  return tr;
}

/** "Withdraw": asked first, then done; the row goes, and the focus to the next row's "Withdraw" (or the
 * tab's count), not to <body>. An invitation already gone (404, withdrawn elsewhere) goes too.
 * @param {OrgInvite} invite
 * @param {HTMLElement} tr
 * @param {HTMLElement} button
 * @param {Element} error
 * @param {(next: HTMLElement | null) => void} removed */
async function withdraw(invite, tr, button, error, removed) {
  const s = state;
  if (isBusy(button)) return;
  error.textContent = '';
  const yes = await confirmDialog('Withdraw this invitation?',
    'Its link will no longer let anyone sign up. People who already joined with it stay.',
    'Withdraw', { opener: button });
  if (!yes || state !== s || !button.isConnected) return;
  setBusy(button, true);
  try {
    await withdrawInvite(invite.id);
  } catch (err) {
    if (state !== s || err.status === 401) return;
    if (err.status !== 404) {
      setBusy(button, false);
      if (err.code === 'not_admin') refreshMe();
      error.textContent = `Not withdrawn: ${err.message}`;
      return;
    }
  }
  if (state !== s || !tr.isConnected) return;
  const next = [tr.nextElementSibling, tr.previousElementSibling]
    .map((other) => /** @type {HTMLElement | null | undefined} */ (other?.querySelector('button')))
    .find((found) => found) ?? null;
  tr.remove();
  removed(next);
}
