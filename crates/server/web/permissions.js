// What the user may do in their organization, and so what the screen offers: browsing the channel directory,
// creating channels, making invitations, `@channel` and `@here`. The rules mirror the server's
// (crates/core/src/service/org_settings.rs and its guest checks): owners and administrators may do all of it;
// guests never browse or create channels nor invite; everyone else as the organization's settings say.
//
// The settings are read once after sign-in, and again after each reconnect (an `org.updated` sent while the
// socket was away is not replayed); `org.updated` keeps them current, and the user's own `user.updated` their
// role. Each change publishes the `permissions` notice, which the parts of the screen follow live. Until the
// settings are read, what they decide is not offered. The server decides every request itself: this only
// stops offering what it would refuse.
import { orgSettings } from '/api.js';
import { publish, state, subscribe } from '/state.js';

/** @typedef {import('/api.js').OrgSettings} OrgSettings */
/** @typedef {import('/state.js').Conversation} Conversation */

/** Settings that came by `org.updated`, counted: a read answered after one of them may be older than it. */
let updates = 0;
/** The timer of the next try after a failed read. */
let retry = 0;
/** How long to wait before reading again after a failure, in ms. */
const RETRY_MS = 5000;

/** Whether the user administers their organization (owners and administrators): Administration, and every
 * channel moderated. */
export const administers = () => !!state && (state.me.role === 'owner' || state.me.role === 'admin');
const guest = () => state.me.role === 'guest';

/** Whether the user may search and join the organization's public channels (everyone but guests). */
export function mayBrowseChannels() {
  return !!state && !guest();
}

/** Whether the user may create a channel (`channel_creation`; never guests). */
export function mayCreateChannels() {
  const s = state;
  if (!s || guest()) return false;
  return administers() || s.org?.channel_creation === 'everyone';
}

/** Whether the user may make invitation links (`invitations`; never guests). */
export function mayInvite() {
  const s = state;
  if (!s || guest()) return false;
  return administers() || s.org?.invitations === 'everyone';
}

/** Whether the user may use `@channel` and `@here` in `conversation` (`channel_mentions`): with
 * `moderators`, only its owners and moderators and the organization's owners and administrators.
 * @param {Conversation} conversation */
export function mayMentionEveryone(conversation) {
  const s = state;
  if (!s) return false;
  if (administers()) return true;
  if (!s.org) return false;
  if (s.org.channel_mentions !== 'moderators') return true;
  const role = conversation.membership?.role;
  return role === 'owner' || role === 'moderator';
}

/** Reads the organization's settings into the state (after sign-in, after a reconnect); a failed read is
 * tried again a little later, what was known meanwhile staying as it was. */
export async function readOrgSettings() {
  const s = state;
  const seen = updates;
  clearTimeout(retry);
  try {
    const settings = await orgSettings();
    if (state !== s || updates !== seen) return;
    setOrgSettings(settings);
  } catch (e) {
    if (state !== s || e.status === 401) return;
    retry = setTimeout(() => state === s && readOrgSettings(), RETRY_MS);
  }
}

/** The settings as an `org.updated` frame carries them: the organization's now.
 * @param {OrgSettings} settings */
export function applyOrgSettings(settings) {
  if (!state) return;
  updates++;
  setOrgSettings(settings);
}

/** @param {OrgSettings} settings */
function setOrgSettings(settings) {
  state.org = settings;
  publish('permissions');
}

// The user's own role changed (here, on another device, by an administrator): what they may do follows.
subscribe('user', (user) => {
  if (state && user.id === state.me.id) publish('permissions');
});
