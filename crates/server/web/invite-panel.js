// The "Invite people" panel: invitation links into the user's organization, made, copied, listed and
// withdrawn. The panel's elements are in index.html (`#people-panel`); this module is the only one that
// touches them.
import { api } from '/api.js';
import { inviteStatus } from '/invite-link.js';
import { h, isBusy, setBusy, shortTime } from '/ui.js';

/** @typedef {{id: string, org: string, created_at: string, expires_at: string, max_uses: number, uses: number,
 *   token?: string | null, url?: string | null}} Invite */

const people = (/** @type {number} */ n) => `${n} ${n === 1 ? 'person' : 'people'}`;

/**
 * Wires the panel for a member of organization `org`. `open()` reads the list of invitations afresh (their
 * uses change as people sign up) and puts the focus in the panel's first field.
 * @param {HTMLElement} panel
 * @param {string} org
 * @returns {{open: () => void}}
 */
export function setupInvitePanel(panel, org) {
  const form = /** @type {HTMLFormElement} */ (panel.querySelector('#invite-form'));
  const uses = /** @type {HTMLSelectElement} */ (form.elements.namedItem('uses'));
  const hours = /** @type {HTMLSelectElement} */ (form.elements.namedItem('hours'));
  const create = /** @type {HTMLButtonElement} */ (form.querySelector('button[type="submit"]'));
  const alert = form.querySelector('[role="alert"]');
  const made = /** @type {HTMLElement} */ (panel.querySelector('#invite-made'));
  const link = /** @type {HTMLInputElement} */ (panel.querySelector('#invite-link'));
  const madeHint = panel.querySelector('#invite-made-hint');
  const copy = /** @type {HTMLButtonElement} */ (panel.querySelector('#invite-copy'));
  const copied = panel.querySelector('#invite-copied');
  const list = panel.querySelector('#invite-list');
  const empty = /** @type {HTMLElement} */ (panel.querySelector('#invite-list-empty'));
  /** Says what an action on the list did, or why the list could not be read. */
  const listStatus = panel.querySelector('#invite-list-status');
  /** The invitation whose link is shown: its token is in the answer that made it, and nowhere else. */
  let shown = /** @type {Invite | null} */ (null);
  let loads = 0;

  panel.querySelector('#invite-org').textContent = org;

  async function load() {
    const mine = ++loads;
    try {
      const { invites } = await api('GET', '/v1/invites');
      if (mine === loads && panel.isConnected) render(invites);
    } catch (e) {
      if (mine === loads && e.status !== 401) listStatus.textContent = `Could not load your invitations: ${e.message}`;
    }
  }

  /** @param {Invite[]} invites */
  function render(invites) {
    const focused = list.contains(document.activeElement) ? document.activeElement.closest('li')?.dataset.inviteId : null;
    list.replaceChildren(...invites.map(item));
    empty.hidden = invites.length > 0;
    if (focused) /** @type {HTMLElement | null} */ (list.querySelector(`li[data-invite-id="${focused}"] button`))?.focus();
  }

  /** @param {Invite} invite */
  function item(invite) {
    const stateName = inviteStatus(invite);
    const expired = Date.parse(invite.expires_at) <= Date.now();
    const info = `invite-info-${invite.id}`;
    const withdraw = h('button', { type: 'button', class: 'invite-withdraw', 'aria-describedby': info }, 'Withdraw');
    withdraw.addEventListener('click', () => remove(invite, withdraw));
    return h('li', { class: 'invite-item', dataset: { inviteId: invite.id } },
      h('span', { class: 'invite-info', id: info },
        h('span', { class: 'invite-line' },
          h('span', { class: 'invite-org' }, invite.org), ' ',
          h('span', { class: `invite-state${stateName === 'Active' ? '' : ' over'}` }, stateName)),
        ' ',
        h('span', { class: 'invite-line hint' },
          `${invite.uses} of ${invite.max_uses} used, ${expired ? 'expired' : 'expires'} ${shortTime(invite.expires_at)}`)),
      withdraw);
  }

  /** Withdraws `invite`; the focus moves to the next invitation's button (or "Create link"), not to <body>.
   * @param {Invite} invite
   * @param {HTMLElement} button */
  async function remove(invite, button) {
    if (isBusy(button)) return;
    setBusy(button, true);
    try {
      await api('DELETE', `/v1/invites/${invite.id}`);
    } catch (e) {
      setBusy(button, false);
      // 404: already gone (withdrawn in another tab); anything else is worth saying.
      if (e.status !== 404) {
        if (e.status !== 401) listStatus.textContent = `Could not withdraw it: ${e.message}`;
        return;
      }
    }
    if (!panel.isConnected) return;
    if (shown?.id === invite.id) {
      shown = null;
      made.hidden = true;
    }
    const li = button.closest('li');
    const next = /** @type {HTMLElement | null} */ ((li.nextElementSibling || li.previousElementSibling)?.querySelector('button'));
    li.remove();
    (next ?? create).focus();
    empty.hidden = list.children.length > 0;
    listStatus.textContent = 'Invitation withdrawn.';
    load();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (isBusy(create)) return;
    setBusy(create, true);
    alert.textContent = '';
    try {
      const invite = await api('POST', '/v1/invites', { max_uses: Number(uses.value), expires_in_hours: Number(hours.value) });
      if (!panel.isConnected) return;
      shown = invite;
      link.value = invite.url || `${location.origin}/#invite=${encodeURIComponent(invite.token)}`;
      madeHint.textContent = `For ${people(invite.max_uses)}, until ${shortTime(invite.expires_at)}. Send it only to them: ` +
        'anyone with it can join. It shows only until you close this panel.';
      copied.textContent = '';
      made.hidden = false;
      copy.focus();
      load();
    } catch (e) {
      if (e.status !== 401) alert.textContent = `Could not create a link: ${e.message}`;
    } finally {
      setBusy(create, false);
    }
  });

  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(link.value);
      copied.textContent = 'Link copied.';
    } catch {
      // No clipboard here (a page over plain HTTP, or permission refused): the link is selected for the keys.
      link.focus();
      link.select();
      copied.textContent = 'The link is selected: press Ctrl+C (⌘C on a Mac) to copy it.';
    }
  });

  return {
    open() {
      // A link made before stays on screen only while the panel is open: its token is a secret.
      shown = null;
      made.hidden = true;
      link.value = '';
      alert.textContent = '';
      listStatus.textContent = '';
      uses.focus();
      load();
    },
  };
}
