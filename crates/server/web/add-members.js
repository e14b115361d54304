// "Invite" in a group's or channel's header: a colleague found with the search is added to the open
// conversation, and everyone there sees "NAME joined". A read-only conversation (an archived channel) takes
// no new members: the button hides, and the panel closes, live as the channel is archived, and the button
// comes back when it is brought back.
import { api } from '/api.js';
import { isReadOnly, openEntry } from '/conversations.js';
import { registerPanel, setPanel } from '/panels.js';
import { focusPeopleSearch, resetPeopleSearch, sayUnderPeopleSearch, usePeopleSearch } from '/people-search.js';
import { state, subscribe } from '/state.js';
import { $, isBusy, setBusy } from '/ui.js';

/** @typedef {import('/state.js').User} User */

/** Registers the panel of a freshly mounted main screen. */
export function setupAddMembers() {
  registerPanel('invite', {
    button: '#invite-btn',
    section: '#invite',
    open: () => {
      usePeopleSearch('#invite', 'append', addMember);
      focusPeopleSearch();
    },
    reset: resetPeopleSearch,
  });
}

/** "Invite" shows in the open group or channel unless it is read-only; when it goes, so does its panel, and
 * the focus, if it was in the panel, goes to the conversation's heading. */
function sync() {
  const s = state;
  const e = openEntry();
  const button = $('#invite-btn');
  if (!button) return;
  const allowed = !!e && e.conv.kind !== 'dm' && !isReadOnly(e.id);
  button.hidden = !allowed;
  if (allowed || s.panel !== 'invite') return;
  const hadFocus = $('#invite').contains(document.activeElement);
  setPanel(null);
  if (hadFocus && s.open) $('#conv-title').focus();
}

/** @param {User} user
 * @param {HTMLElement} button */
async function addMember(user, button) {
  const s = state;
  const o = s.open;
  if (!o || isBusy(button)) return;
  setBusy(button, true);
  try {
    await api('POST', `/v1/conversations/${o.id}/members`, { user_ids: [user.id] });
    if (state !== s) return;
    // Ready for the next one, like the group panel: the search is cleared and has the focus again.
    resetPeopleSearch();
    sayUnderPeopleSearch(`${user.name} is in ${s.conversations.get(o.id)?.name ?? 'it'} now.`);
  } catch (err) {
    if (state === s) sayUnderPeopleSearch(err.message);
  } finally {
    setBusy(button, false);
    if (state === s && s.panel === 'invite') focusPeopleSearch();
  }
}

subscribe('conversations', () => state && sync());
