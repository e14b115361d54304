// "Channel settings" in a channel's header, shown to those who moderate it: its owners and moderators, and the
// organization's owners and administrators (the server checks every request itself: 403 `not_moderator`).
// It opens a panel under the header with three parts, each a module imported the first time the panel opens:
// the name, topic, privacy and archiving (channel-settings-form.js), the channel's own retention, for those
// who may set it (channel-retention.js), and the members and their roles (channel-members-roles.js). The button follows the user's roles live (`member.role_changed`, `user.updated`),
// and the panel closes when another conversation opens or the user no longer moderates.
import { openEntry } from '/conversations.js';
import { registerPanel, setPanel } from '/panels.js';
import { administers } from '/permissions.js';
import { state, subscribe } from '/state.js';
import { $, h } from '/ui.js';

/** @typedef {import('/state.js').Conversation} Conversation */

/** Whether the user moderates channel `conv`: renames it, changes its topic and privacy, archives it,
 * removes its plain members.
 * @param {Conversation} conv */
export function moderates(conv) {
  const role = conv.membership?.role;
  return conv.kind === 'channel' && (administers() || role === 'owner' || role === 'moderator');
}

/** Whether the user names channel `conv`'s owners and moderators (and removes any member).
 * @param {Conversation} conv */
export function namesModerators(conv) {
  return conv.kind === 'channel' && (administers() || conv.membership?.role === 'owner');
}

/** The channel the panel shows, while it is open. */
let shownFor = /** @type {string | null} */ (null);

const PANEL = 'channel-settings';

/** Wires the panel of a freshly mounted main screen. */
export function setupChannelSettings() {
  shownFor = null;
  registerPanel(PANEL, { button: '#channel-settings-btn', section: '#channel-settings', open: showPanel, reset: () => (shownFor = null) });
}

function showPanel() {
  const s = state;
  const e = openEntry();
  if (!e) return;
  const id = e.id;
  shownFor = id;
  const section = $('#channel-settings');
  const form = h('div', { class: 'channel-settings-part' });
  const retention = h('div', { class: 'channel-settings-part', hidden: true });
  const members = h('div', { class: 'channel-settings-part' });
  section.replaceChildren(h('p', { class: 'hint', role: 'status' }, 'Loading…'));
  Promise.all([import('/channel-settings-form.js'), import('/channel-retention.js'), import('/channel-members-roles.js')]).then(([formModule, retentionModule, membersModule]) => {
    if (state !== s || shownFor !== id) return;
    section.replaceChildren(form, retention, members);
    formModule.showChannelForm(form, id);
    retentionModule.showChannelRetention(retention, id);
    membersModule.showChannelMembers(members, id);
  }, () => {
    if (state === s && shownFor === id) {
      section.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, 'Could not load the channel settings. Close them and open them again to retry.'));
    }
  });
}

/** The button shows on a channel the user moderates; the panel closes when it is about another conversation
 * than the open one, or the user no longer moderates it. The focus, if it was in the panel, goes to the
 * conversation's heading. */
function sync() {
  const s = state;
  const e = openEntry();
  const allowed = !!e && moderates(e.conv);
  const button = $('#channel-settings-btn');
  if (!button) return;
  button.hidden = !allowed;
  if (s.panel !== PANEL || (allowed && s.open?.id === shownFor)) return;
  const hadFocus = $('#channel-settings').contains(document.activeElement);
  setPanel(null);
  if (hadFocus && s.open) $('#conv-title').focus();
}

subscribe('conversations', () => state && sync());
// The user's own organization role changed (made an administrator, or no longer one).
subscribe('user', (user) => user.id === state?.me.id && sync());
