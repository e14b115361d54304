// Administration's "Audit log" tab: the organization's audit log (`GET /v1/admin/audit`), newest first, a page
// at a time ("Load more"), filtered by kind and by the days it falls between; "Export" downloads every entry
// the filters pass (`GET /v1/admin/audit/export`, one JSON object per line), read with the token into a Blob.
// Who acted and whom it was done to show by name when the client knows them or can ask
// (`GET /v1/users/{id}`), else by id. Imported the first time the tab shows (admin.js).
import { auditExport, auditLog } from '/api.js';
import { state } from '/state.js';
import { fmtSize, fullTime, h, isBusy, setBusy, shortTime } from '/ui.js';
import { personName, refreshMe } from '/users.js';

/** @typedef {import('/api.js').AuditEntry} AuditEntry */
/** @typedef {import('/api.js').AuditFilter} AuditFilter */

/** Each kind of entry the server records, in words, in the order the filter offers them. A kind the client
 * does not know yet shows as the server spells it. @type {Record<string, string>} */
const KINDS = {
  login: 'Logged in',
  sso_login: 'Logged in with single sign-on',
  login_failed: 'Login failed',
  password_changed: 'Password changed',
  session_ended: 'Session ended',
  role_changed: 'Role changed',
  user_deactivated: 'Account deactivated',
  user_reactivated: 'Account reactivated',
  people_read: 'People list read',
  invites_read: 'Invitations listed',
  invite_created: 'Invitation created',
  invite_deleted: 'Invitation withdrawn',
  settings_changed: 'Settings changed',
  channel_updated: 'Channel changed',
  member_removed: 'Member removed',
  message_removed: 'Message removed',
  audit_read: 'Audit log read',
  audit_exported: 'Audit log exported',
  exported: 'Data exported',
  purged: 'Data purged',
};

/** The kinds of a login: one without an actor was tried by someone not logged in (no one has acted yet).
 * Any other kind without one was the server's operator's (`parley admin`). */
const LOGINS = new Set(['login', 'login_failed', 'sso_login']);

/** The page of each mounted tab panel (each login mounts a new one): reading it afresh. */
const pages = /** @type {WeakMap<HTMLElement, {reload: () => void}>} */ (new WeakMap());

/** Shows the tab's page in `panel` (built the first time), with the newest entries read afresh.
 * @param {HTMLElement} panel */
export function showAudit(panel) {
  let page = pages.get(panel);
  if (!page || !panel.querySelector('.audit-table')) {
    page = buildPage(panel);
    pages.set(panel, page);
  }
  page.reload();
}

/** @param {HTMLElement} panel */
function buildPage(panel) {
  const s = state;
  const kind = /** @type {HTMLSelectElement} */ (h('select', { id: 'audit-kind', name: 'kind' },
    h('option', { value: '' }, 'All kinds'),
    ...Object.entries(KINDS).map(([value, label]) => h('option', { value }, label))));
  const since = /** @type {HTMLInputElement} */ (h('input', { id: 'audit-since', name: 'since', type: 'date' }));
  const until = /** @type {HTMLInputElement} */ (h('input', { id: 'audit-until', name: 'until', type: 'date' }));
  const exportButton = h('button', { type: 'button', class: 'audit-export' }, 'Export');
  const exportStatus = h('p', { class: 'hint', role: 'status' });
  const status = h('p', { id: 'audit-status', class: 'hint', role: 'status' });
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'load-more', hidden: true }, 'Load more');
  const form = h('form', { class: 'audit-filters', 'aria-label': 'Filter the audit log', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: kind.id }, 'Kind'), kind),
    h('div', { class: 'field' }, h('label', { for: since.id }, 'From'), since),
    h('div', { class: 'field' }, h('label', { for: until.id }, 'To'), until),
    exportButton);
  panel.replaceChildren(
    form,
    exportStatus,
    status,
    // A focus stop of its own, for the keys to scroll it sideways on a narrow screen: its rows hold none.
    h('div', { class: 'admin-table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Audit log entries' },
      h('table', { class: 'admin-table audit-table', 'aria-label': 'Audit log' },
        h('thead', {}, h('tr', {},
          ...['When', 'What', 'Outcome', 'By', 'Concerning', 'Details', 'From'].map((title) => h('th', { scope: 'col' }, title)))),
        rows)),
    more);

  /** The filter shown and where its next page starts; each new filter starts a new generation, so the
   * answers of an older one are dropped. */
  let shown = { filter: /** @type {AuditFilter} */ ({}), next: /** @type {string | null} */ (null), count: 0, generation: 0 };

  /** The filter the form says now: the days are this browser's, from the start of "From" to the end of "To".
   * @returns {AuditFilter} */
  const filter = () => ({ kind: kind.value || undefined, since: dayStart(since.value, 0), until: dayStart(until.value, 1) });

  /** Reads the newest page for the form's filter (or, with `before`, the next one) and shows it.
   * @param {string | null} before */
  async function load(before) {
    const generation = before ? shown.generation : shown.generation + 1;
    if (!before) shown = { filter: filter(), next: null, count: 0, generation };
    const asked = shown.filter;
    setBusy(more, true);
    try {
      const answer = await auditLog(asked, before);
      if (state !== s || shown.generation !== generation) return;
      const added = answer.entries.map(row);
      const moreFocused = document.activeElement === more; // before it may hide, which moves the focus
      if (before) rows.append(...added);
      else rows.replaceChildren(...added);
      shown.next = answer.next ?? null;
      shown.count += added.length;
      more.hidden = !shown.next;
      status.textContent = shown.count === 0
        ? 'No entries.'
        : `${shown.count} ${shown.count === 1 ? 'entry' : 'entries'}, newest first${shown.next ? ', more below' : ''}.`;
      // "Load more" went with the last page: the focus goes to the first entry it brought (or the last one
      // shown, when the page was empty), not to the page.
      if (before && more.hidden && moreFocused) /** @type {HTMLElement} */ (added[0] ?? rows.lastElementChild)?.focus();
    } catch (err) {
      if (state !== s || shown.generation !== generation || err.status === 401) return;
      // The user's role changed unseen: their profile is read again, and Administration goes.
      if (err.code === 'not_admin') refreshMe();
      status.textContent = `Could not read the audit log: ${err.message}`;
    } finally {
      setBusy(more, false);
    }
  }

  form.addEventListener('submit', (ev) => ev.preventDefault());
  form.addEventListener('change', (ev) => {
    // A date being typed is empty until it is whole; a year being typed can be 0002 on the way to 2026.
    const input = /** @type {HTMLInputElement} */ (ev.target);
    if (input.type === 'date' && input.value && !dayStart(input.value, 0)) return;
    exportStatus.textContent = '';
    load(null);
  });
  more.addEventListener('click', () => {
    if (!isBusy(more) && shown.next) load(shown.next);
  });
  exportButton.addEventListener('click', async () => {
    if (isBusy(exportButton)) return;
    setBusy(exportButton, true);
    exportStatus.textContent = 'Exporting…';
    try {
      const blob = await auditExport(filter());
      if (state !== s) return;
      saveFile(blob, `parley-audit-${new Date().toISOString().slice(0, 10)}.ndjson`);
      exportStatus.textContent = `Exported the audit log (${fmtSize(blob.size)}).`;
    } catch (err) {
      if (state === s && err.status !== 401) exportStatus.textContent = `Not exported: ${err.message}`;
    } finally {
      setBusy(exportButton, false);
    }
  });
  return { reload: () => load(null) };
}

/** The time (RFC 3339) at which day `value` (`YYYY-MM-DD`, from a date input) plus `days` starts in this
 * browser's time zone; undefined when there is no such day worth asking about.
 * @param {string} value
 * @param {number} days
 * @returns {string | undefined} */
function dayStart(value, days) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match || Number(match[1]) < 1970) return undefined;
  const day = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + days);
  return Number.isNaN(day.getTime()) ? undefined : day.toISOString();
}

/** Hands `blob` to the browser as a download named `name`.
 * @param {Blob} blob
 * @param {string} name */
function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its bytes once it starts; the URL is kept a moment for browsers that read it late.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** One entry's row. Focusable (for "Load more" to put the focus on), not a Tab stop.
 * @param {AuditEntry} entry
 * @returns {HTMLElement} */
function row(entry) {
  const refused = entry.outcome === 'refused';
  return h('tr', { class: refused ? 'refused' : null, tabindex: '-1', dataset: { entryId: entry.id } },
    h('td', {}, h('time', { datetime: entry.at, title: fullTime(entry.at) }, shortTime(entry.at))),
    h('th', { scope: 'row' }, KINDS[entry.kind] ?? entry.kind),
    h('td', {}, h('span', { class: refused ? 'outcome over' : 'outcome' }, refused ? 'Refused' : 'Done')),
    h('td', {}, entry.actor_id ? personName(entry.actor_id) : LOGINS.has(entry.kind) ? 'Not logged in' : 'The server\'s operator'),
    h('td', {}, entry.target_user_id ? personName(entry.target_user_id)
      : entry.target_conversation_id ? `Conversation ${entry.target_conversation_id}` : ''),
    h('td', { class: 'audit-detail' }, entry.detail ?? ''),
    h('td', { class: 'audit-address' }, entry.address ?? ''));
}
