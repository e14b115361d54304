// Administration, for the organization's owners and administrators: "Administration" in the top bar, shown
// only to them (and shown or hidden live as their role changes, by `user.updated`), opens an area in place
// of the list and the conversation, with five tabs: "People" (admin-people.js), "Audit log"
// (admin-audit.js), "Invitations" (admin-invites.js), "Organization settings" (org-settings.js) and "Single
// sign-on" (admin-sso.js). Each tab's module is imported the first time it shows, not on the first load. The
// server checks every request itself (403 `not_admin`): hiding the entry only spares people a dead end.
import { focusFirstTool } from '/panels.js';
import { administers } from '/permissions.js';
import { state, subscribe } from '/state.js';
import { $, h, roving } from '/ui.js';

/** @typedef {'people' | 'audit' | 'invites' | 'settings' | 'sso'} TabName */

/** Each tab: its button, its panel, and what shows it (the import of its module). */
const TABS = {
  people: {
    tab: '#admin-tab-people',
    panel: '#admin-people',
    show: (/** @type {HTMLElement} */ panel) => {
      // The rows shown are read afresh, and replaced: busy from now, not from once the module is loaded, so
      // that nothing done on them in between is lost with them (showPeople clears it when they are read).
      panel.querySelector('.people-table')?.setAttribute('aria-busy', 'true');
      return import('/admin-people.js').then((m) => m.showPeople(panel));
    },
  },
  audit: { tab: '#admin-tab-audit', panel: '#admin-audit', show: (/** @type {HTMLElement} */ panel) => import('/admin-audit.js').then((m) => m.showAudit(panel)) },
  invites: { tab: '#admin-tab-invites', panel: '#admin-invites', show: (/** @type {HTMLElement} */ panel) => import('/admin-invites.js').then((m) => m.showInvites(panel)) },
  settings: { tab: '#admin-tab-settings', panel: '#admin-settings', show: (/** @type {HTMLElement} */ panel) => import('/org-settings.js').then((m) => m.showOrgSettings(panel)) },
  sso: { tab: '#admin-tab-sso', panel: '#admin-sso', show: (/** @type {HTMLElement} */ panel) => import('/admin-sso.js').then((m) => m.showSsoSettings(panel)) },
};

/** The tab shown while the area is open. @type {TabName} */
let current = 'people';
/** Which conversation was open (its number, `openGen`) when the area opened: another one opening (from a
 * notification, a link) closes the area. */
let openedAt = -1;

/** Wires the area of a freshly mounted main screen, and shows its entry to owners and administrators. */
export function setupAdmin() {
  current = 'people';
  const button = $('#admin-btn');
  button.hidden = !administers();
  button.addEventListener('click', () => (isOpen() ? closeAdmin() : openAdmin()));
  $('#admin-close').addEventListener('click', () => closeAdmin());
  const tabs = $('#admin-tabs');
  roving(tabs);
  for (const key of /** @type {TabName[]} */ (Object.keys(TABS))) {
    $(TABS[key].tab).addEventListener('click', () => showTab(key));
  }
}

const isOpen = () => !$('#admin').hidden;

function openAdmin() {
  const s = state;
  openedAt = s.open?.gen ?? -1;
  $('#admin').hidden = false;
  $('#shell').classList.add('has-admin');
  $('#admin-btn').setAttribute('aria-expanded', 'true');
  showTab(current);
  $('#admin-title').focus();
}

/** Closes the area; the focus goes back to "Administration", or to the side's first tool when it is gone. */
function closeAdmin() {
  const wasInside = $('#admin').contains(document.activeElement) || document.activeElement === $('#admin-btn');
  $('#admin').hidden = true;
  $('#shell').classList.remove('has-admin');
  $('#admin-btn').setAttribute('aria-expanded', 'false');
  if (!wasInside) return;
  if (!$('#admin-btn').hidden) $('#admin-btn').focus();
  else focusFirstTool();
}

/** Shows one tab (and hides the others), reading its page afresh.
 * @param {TabName} key */
function showTab(key) {
  const s = state;
  current = key;
  for (const [name, tab] of Object.entries(TABS)) {
    const selected = name === key;
    const button = $(tab.tab);
    button.setAttribute('aria-selected', String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(tab.panel).hidden = !selected;
  }
  const panel = /** @type {HTMLElement} */ ($(TABS[key].panel));
  TABS[key].show(panel).catch(() => {
    if (state === s) panel.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, 'Could not load this page. Choose its tab again to retry.'));
  });
}

// The user's own role changed (here, on another device, by another administrator): the entry follows, and an
// open area closes once they no longer administer.
subscribe('user', (user) => {
  const s = state;
  if (!s || user.id !== s.me.id) return;
  const admin = administers();
  $('#admin-btn').hidden = !admin;
  if (!admin && isOpen()) closeAdmin();
});

// Another conversation opened while the area is open (from a notification, a link): it shows.
subscribe('conversations', () => {
  const s = state;
  if (s && isOpen() && s.open && s.open.gen !== openedAt) closeAdmin();
});
