// Parley's browser client: starting up, logging in and out, and wiring the main screen's modules together.
// Each part of the screen is a module of its own (see docs/web-client.md); they share the session's state
// through state.js. Text from users only ever reaches the page as text nodes, never as HTML.
import { setupAddMembers } from '/add-members.js';
import { setupAdmin } from '/admin.js';
import { api, onUnauthorized, revokeLater, revokeStale, session, TOKEN_KEY } from '/api.js';
import { setupWorker } from '/app-worker.js';
import { dropDrafts } from '/attachments-draft.js';
import { showAuth } from '/auth.js';
import { forgetAvatars } from '/avatars.js';
import { setupChannelArchived } from '/channel-archived.js';
import { setupChannelDirectory } from '/channel-directory.js';
import { setupChannelSettings } from '/channel-settings.js';
import { setupComposer } from '/composer.js';
import { setupConversationList, showAboveList } from '/conversation-list.js';
import { setupConversationNotifications } from '/conversation-notifications.js';
import { closeConversation, openConversation, setupConversation } from '/conversation.js';
import { loadList } from '/conversations.js';
import { receiveEvent, receiveFrame, receiveReply, resync } from '/events.js';
import { inviteIgnoredNotice, onInviteLink, takeInviteToken } from '/invite-link.js';
import { setupInvitePanel } from '/invite-panel.js';
import { joinFromUrl } from '/join-link.js';
import { setupMentionPicker } from '/mention-picker.js';
import { setupMessageEdit } from '/message-edit.js';
import { scrollToEnd, setupLog } from '/message-log.js';
import { setupMessageNavigation } from '/message-navigation.js';
import { setupNewConversation } from '/new-conversation.js';
import { showConnection } from '/offline-banner.js';
import { focusFirstTool, registerPanel, setupPanels } from '/panels.js';
import { setupPeopleSearch } from '/people-search.js';
import { mayInvite, readOrgSettings } from '/permissions.js';
import { subscribePresence } from '/presence.js';
import { setupPermalinks } from '/permalink.js';
import { setupPins } from '/pins.js';
import { setupProfile } from '/profile.js';
import { markRead } from '/reads.js';
import { Realtime } from '/realtime.js';
import { replyPrivately } from '/reply-privately.js';
import { setupSettings } from '/settings.js';
import { finishSsoSignIn, takeSsoCallback } from '/sso-callback.js';
import { setState, state, subscribe } from '/state.js';
import { setupThreadPane } from '/thread-pane.js';
import { setupThreadsView } from '/threads-view.js';
import { $, h, isBusy, NARROW, setBusy } from '/ui.js';
import { refreshMe } from '/users.js';

/** @typedef {import('/state.js').AppState} AppState */
/** @typedef {import('/state.js').User} User */

const app = document.getElementById('app');

/** Puts a template's content (`tpl-main`, `tpl-auth`) in the page.
 * @param {string} id */
function mount(id) {
  app.replaceChildren(/** @type {HTMLTemplateElement} */ (document.getElementById(id)).content.cloneNode(true));
}

onUnauthorized(() => signedOut('Your session has ended. Please log in again.'));

// --- logged out ----------------------------------------------------------------------------------------------

/** The token of an invitation link this page was opened with, until it is used to sign up (or the user logs
 * in, or turns out to be logged in already). */
let pendingInvite = takeInviteToken();

/** Where a sign-in with the organization's provider came back to (`/?sso=callback&…`, taken out of the address
 * at once), until boot() finishes it. */
let pendingSso = takeSsoCallback();

/** @param {string} [notice] why the auth screen shows
 * @param {string} [org] the log-in form's organization to start with */
function showLoggedOut(notice, org) {
  teardown();
  showAuth(app, {
    notice,
    org,
    invite: pendingInvite,
    onLoggedIn: () => {
      pendingInvite = null;
      return boot();
    },
  });
}

// An invitation link opened in this page while it is open (only the fragment changed).
onInviteLink((token) => {
  pendingInvite = token;
  if (state) return inviteIgnored();
  if (session.token) return; // still starting: boot() sees it
  showLoggedOut();
});

function teardown() {
  const s = state;
  setState(null);
  if (!s) return;
  s.rt.stop();
  forgetAvatars(s);
  dropDrafts();
}

/** @param {string} [notice] */
function signedOut(notice) {
  session.clear();
  showLoggedOut(notice);
}

/** "Log out everywhere" (Settings), confirmed: every session of the user ends, on every device; this page
 * then shows the auth screen as after "Log out". Our own socket is stopped first, as the server closes it
 * with 4003 too. If the request fails, nothing ended: the page stays, says why, and reconnects.
 * @param {HTMLElement} button
 * @param {Element} alert */
async function logoutEverywhere(button, alert) {
  const s = state;
  if (!s || isBusy(button)) return;
  setBusy(button, true);
  alert.textContent = '';
  s.rt.stop();
  try {
    await api('DELETE', '/v1/users/me/sessions');
  } catch (e) {
    if (state !== s) return; // a 401: signed out already
    setBusy(button, false);
    alert.textContent = `Not logged out: ${e.message}`;
    s.rt.start();
    return;
  }
  if (state === s) signedOut('You were logged out everywhere.');
}

async function logout() {
  const s = state;
  if (!s) return;
  s.rt.stop();
  const token = session.token;
  try {
    await api('POST', '/v1/auth/logout');
  } catch (e) {
    // Unreachable (offline, say): the token is dropped here either way, and revoked at the next chance.
    if (e.status === 0 || e.status >= 500) revokeLater(token);
  }
  if (state === s) signedOut();
}

// --- boot --------------------------------------------------------------------------------------------------

let bootRetry = 0;
async function boot() {
  clearTimeout(bootRetry);
  revokeStale();
  if (pendingSso) return finishSso();
  if (!session.token) return showLoggedOut();
  try {
    const me = await api('GET', '/v1/users/me');
    startMain(me);
    if (pendingInvite) inviteIgnored();
  } catch (e) {
    if (e.status === 401) return; // onUnauthorized showed the auth screen
    // Unreachable or unavailable (a 503 while the store is down): the login is kept, and we try again.
    if (!state) {
      const why = e.status === 0 ? 'Cannot reach the server.' : e.transient ? 'The server is unavailable for a moment.' : e.message;
      app.replaceChildren(h('p', { class: 'boot', role: 'alert' }, `${why} Retrying…`));
      bootRetry = setTimeout(boot, 3000);
    }
  }
}

/** Finishes the sign-in with the organization's provider that the page came back from: its login is kept as
 * the log-in form's is, and the page goes on as logged in; a refusal shows the auth screen saying why, with
 * the organization in the log-in form, so that its button is there to try again. (If this browser logged in
 * meanwhile, in another tab, that login goes on.) */
async function finishSso() {
  const back = pendingSso;
  pendingSso = null;
  app.replaceChildren(h('p', { class: 'boot', role: 'status' }, 'Signing in…'));
  const outcome = await finishSsoSignIn(back);
  if (outcome.login) session.set(outcome.login.user_id, outcome.login.token);
  else if (!session.token) return showLoggedOut(outcome.notice, outcome.org);
  return boot();
}

// --- main screen -------------------------------------------------------------------------------------------

/** Mounts the main screen for user `me`, with a new state, wires its parts and connects.
 * @param {User} me */
function startMain(me) {
  teardown();
  mount('tpl-main');
  /** @type {AppState} */
  const s = {
    me,
    rt: null,
    conversations: new Map(),
    inflight: new Map(),
    userRequests: new Map([[me.id, Promise.resolve(me)]]),
    names: new Map([[me.id, me.name]]),
    users: new Map([[me.id, me]]),
    presence: new Map(),
    followed: new Set(),
    avatars: new Map(),
    typingSent: new Map(),
    pending: new Map(),
    open: null,
    openGen: 0,
    listReady: false,
    buffer: [],
    connected: null,
    panel: null,
    profile: null,
    initial: new Map(),
    org: null,
  };
  setState(s);
  $('#me-name').textContent = me.name;
  $('#logout').addEventListener('click', logout);
  setupConversationList({ onOpen: openConversation });
  setupConversation();
  setupPanels();
  setupPeopleSearch();
  setupNewConversation();
  setupChannelDirectory();
  const links = setupInvitePanel($('#people-panel'), me.org);
  registerPanel('people', { button: '#invite-people', section: '#people-panel', open: links.open, offered: mayInvite });
  setupAddMembers();
  setupProfile();
  setupSettings({ onLogoutEverywhere: logoutEverywhere });
  setupAdmin();
  setupComposer();
  setupMentionPicker();
  setupMessageEdit();
  setupPins();
  setupConversationNotifications();
  setupChannelSettings();
  setupChannelArchived();
  setupPermalinks();
  setupLog();
  setupMessageNavigation();
  setupThreadPane();
  setupThreadsView();
  // Logged in: the form that had focus is gone, so focus goes to the main screen's first control.
  if (!document.activeElement || document.activeElement === document.body) focusFirstTool();
  s.rt = new Realtime(session.token, {
    onEvent: (f) => state === s && receiveEvent(f),
    onReply: receiveReply,
    onFrame: (f) => state === s && receiveFrame(f),
    onReady: () => {
      if (state !== s) return;
      // A change of the organization's settings or of the user's profile (their role, say) while the socket
      // was away is not replayed: both are read again.
      if (readies++ > 0) {
        readOrgSettings();
        refreshMe();
      }
      // A first connection (no cursor to resume from) hears only what happens after `ready`: what happened
      // between the list's read and then would be lost, so the list is read once more.
      if (!resumes && !listedAgain) {
        listedAgain = true;
        listed.then(() => state === s && loadList());
      }
      subscribePresence();
    },
    onResync: () => resync(),
    onStatus: (up, code) => showConnection(up, code),
    // A token another tab has replaced since is not this tab's to clear: follow that tab instead.
    onAuthFail: (code) => state === s && (session.token === s.rt.token
      ? signedOut(code === 4001 ? 'Your session has ended. Please log in again.' : 'You were logged out.')
      : location.reload()),
  });
  const resumes = !!s.rt.cursor;
  let listedAgain = false;
  let readies = 0;
  readOrgSettings();
  s.rt.start();
  const listed = loadList();
  listed.then(joinFromUrl);
}

/** Someone logged in opened an invitation link: it is not used (an account is in one organization), and a
 * notice above the list says so. */
function inviteIgnored() {
  const s = state;
  pendingInvite = null;
  if (!s) return;
  document.querySelector('.invite-ignored')?.remove();
  const notice = inviteIgnoredNotice(s.me.org, () => {
    notice.remove();
    focusFirstTool();
  });
  if (s.open && NARROW.matches) closeConversation();
  showAboveList(notice);
  notice.querySelector('button').focus();
}

// "Reply privately" on a message (message.js tells, as it cannot import the conversations it opens).
subscribe('reply-privately', (m) => state && replyPrivately(m));

subscribe('user', (user) => {
  if (user.id === state?.me.id) $('#me-name').textContent = user.name;
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state?.open) markRead();
});

NARROW.addEventListener('change', () => {
  if (state?.open) scrollToEnd();
});

// Another tab logged in or out: this one follows, rather than act as one user over REST (which reads the
// stored token) and as another over its socket.
window.addEventListener('storage', (e) => {
  if (e.key === TOKEN_KEY || e.key === null) location.reload();
});

// The service worker shows notifications and opens what is clicked; registering it asks for no permission.
setupWorker();
boot();
