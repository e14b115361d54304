// Parley's browser client: starting up, the conversation list, one open conversation, the composer, the side
// panels and settings. The auth screen is auth.js, the "Invite people" panel invite-panel.js.
// Message text is only ever rendered as text (text nodes via h()), never as HTML.
import { api, blobUrl, onUnauthorized, revokeLater, revokeStale, session, TOKEN_KEY, upload } from '/api.js';
import { showAuth } from '/auth.js';
import { inviteIgnoredNotice, onInviteLink, takeInviteToken } from '/invite-link.js';
import { setupInvitePanel } from '/invite-panel.js';
import { Realtime } from '/realtime.js';
import { $, cmpId, fmtNumber, h, isBusy, liveSearch, roving, setBusy, shortTime, uuid } from '/ui.js';

const PAGE = 50;
const MAX_TEXT = 10000;
const COUNTER_FROM = MAX_TEXT - 500;
const NARROW = window.matchMedia('(max-width: 700px)');

const app = document.getElementById('app');
/** Everything of the logged-in session; replaced on every login, so late async results check `state === s`. */
let state = null;

function mount(id) {
  app.replaceChildren(/** @type {HTMLTemplateElement} */ (document.getElementById(id)).content.cloneNode(true));
}

onUnauthorized(() => signedOut('Your session has ended. Please log in again.'));

// --- logged out ----------------------------------------------------------------------------------------------

/** The token of an invitation link this page was opened with, until it is used to sign up (or the user logs
 * in, or turns out to be logged in already). */
let pendingInvite = takeInviteToken();

function showLoggedOut(notice) {
  teardown();
  showAuth(app, {
    notice,
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
  state = null;
  if (!s) return;
  s.rt.stop();
  for (const url of [...s.avatars.keys()]) forgetAvatar(s, url);
}

function signedOut(notice) {
  session.clear();
  showLoggedOut(notice);
}

/** "Log out everywhere" (Settings), confirmed: every session of the user ends, on every device; this page
 * then shows the auth screen as after "Log out". Our own socket is stopped first, as the server closes it
 * with 4003 too. If the request fails, nothing ended: the page stays, says why, and reconnects. */
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

// --- main screen -------------------------------------------------------------------------------------------

function startMain(me) {
  teardown();
  mount('tpl-main');
  const s = {
    me,
    convs: new Map(), // id -> entry {id, conv, name, last, unread, activity, li, btn}
    inflight: new Map(), // id -> Promise<entry|null> while a conversation is fetched
    users: new Map([[me.id, Promise.resolve(me)]]), // id -> Promise<user>
    names: new Map([[me.id, me.name]]), // id -> name, once known
    info: new Map([[me.id, me]]), // id -> user object, once known
    presence: new Map(), // user id -> {online, last_seen}, of the DM partners we follow
    followed: new Set(), // ids of other users we follow: members of groups opened here
    avatars: new Map(), // avatar_url -> Promise<blob: URL or null>
    typingSent: new Map(), // conversation id -> when we last sent `typing`
    pending: new Map(), // nonce -> {nonce, ref, cid, text, created}
    open: null,
    listReady: false,
    buffer: [],
    openGen: 0,
    connected: null,
    panel: null,
    initial: new Map(), // conversation id -> ids of its initial members (their joins are not news)
  };
  state = s;
  $('#me-name').textContent = me.name;
  $('#logout').addEventListener('click', logout);
  $('#back').addEventListener('click', closeConversation);
  setupPanels();
  $('#leave').addEventListener('click', leaveOpen);
  $('#profile-btn').addEventListener('click', toggleProfile);
  $('#profile').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      hideProfile();
      $('#profile-btn').focus();
    }
  });
  setupSettings();
  setupComposer();
  setupLog();
  // Logged in: the form that had focus is gone, so focus goes to the main screen's first control.
  if (!document.activeElement || document.activeElement === document.body) $('#new-dm').focus();
  s.rt = new Realtime(session.token, {
    onEvent: (f) => (s.listReady ? applyEvent(f) : s.buffer.push(f)),
    onReply,
    onFrame: (f) => state === s && onFrame(f),
    onReady: () => {
      if (state !== s) return;
      // A first connection (no cursor to resume from) hears only what happens after `ready`: what happened
      // between the list's read and then would be lost, so the list is read once more.
      if (!resumes && !listedAgain) {
        listedAgain = true;
        listed.then(() => state === s && loadList());
      }
      subscribePresence();
    },
    onResync: () => resync(),
    onStatus: (up, code) => setConnected(up, code),
    // A token another tab has replaced since is not this tab's to clear: follow that tab instead.
    onAuthFail: (code) => state === s && (session.token === s.rt.token
      ? signedOut(code === 4001 ? 'Your session has ended. Please log in again.' : 'You were logged out.')
      : location.reload()),
  });
  const resumes = !!s.rt.cursor;
  let listedAgain = false;
  s.rt.start();
  const listed = loadList();
  listed.then(joinFromUrl);
}

/** Why the socket is down, by its close code; anything else reads as being offline. The login is kept in
 * every case: realtime.js ends it only on 4001 and 4003. */
const DISCONNECTED = {
  1013: 'The server is unavailable for a moment. Reconnecting…',
  4005: 'Too many of your tabs and devices are connected. Close one; reconnecting…',
};

function setConnected(up, code) {
  const s = state;
  if (!s) return;
  const text = up ? '' : DISCONNECTED[code] ?? 'Offline. Reconnecting…';
  if (s.connected === up && $('#offline').textContent === text) return;
  s.connected = up;
  $('#offline').textContent = text;
  $('#shell').classList.toggle('is-offline', !up);
}

async function loadList() {
  const s = state;
  s.listReady = false;
  try {
    const { conversations } = await api('GET', '/v1/conversations');
    const entries = await Promise.all(conversations.map((c) => makeEntry(c)));
    if (state !== s) return;
    const old = s.convs;
    s.convs = new Map();
    for (const e of entries) {
      const prev = old.get(e.id);
      if (prev) Object.assign(prev, { ...e, li: prev.li, btn: prev.btn });
      s.convs.set(e.id, prev || e);
    }
    for (const [id, prev] of old) if (!s.convs.has(id)) prev.li?.remove();
    s.listReady = true;
    renderList();
    subscribePresence();
    if (s.open && !s.convs.has(s.open.id)) closeConversation();
    const buffered = s.buffer;
    s.buffer = [];
    for (const f of buffered) applyEvent(f);
  } catch (e) {
    if (state !== s || e.status === 401) return;
    $('#conv-empty').textContent = `Could not load conversations: ${e.message}`;
    $('#conv-empty').hidden = false;
    setTimeout(() => state === s && !s.listReady && loadList(), 3000);
  }
}

/** A channel link (`/v1/join/HANDLE` redirects to `/?join=HANDLE`): asks first, since a link can come from
 * anyone, then joins and opens the channel. One already joined just opens. */
async function joinFromUrl() {
  const s = state;
  const handle = new URLSearchParams(location.search).get('join');
  if (!handle || !s) return;
  history.replaceState(null, '', '/');
  const joined = [...s.convs.values()].find((e) => e.conv.handle === handle);
  if (joined) return openConversation(joined.id);
  let info = null;
  try {
    const { conversations } = await api('GET', `/v1/channels?q=${encodeURIComponent(handle)}`);
    info = conversations.find((c) => c.handle === handle) || null;
  } catch {
    /* a private channel is not listed: asked by its handle alone */
  }
  if (state !== s) return;
  const title = info?.name ? `${info.name} (#${handle})` : `#${handle}`;
  const error = h('p', { role: 'alert', class: 'form-error' });
  const yes = h('button', { type: 'button', class: 'primary' }, 'Join');
  const no = h('button', { type: 'button' }, 'Not now');
  const ask = h('section', { class: 'dm-panel join-ask', 'aria-labelledby': 'join-ask-title' },
    h('h2', { id: 'join-ask-title' }, `Join ${title}?`),
    info ? h('p', { class: 'hint' }, `${fmtNumber(info.member_count)} member${info.member_count === 1 ? '' : 's'}`) : null,
    h('p', { class: 'join-ask-buttons' }, yes, ' ', no),
    error);
  const done = (focus) => {
    ask.remove();
    if (focus) $('#new-dm').focus();
  };
  no.addEventListener('click', () => done(true));
  yes.addEventListener('click', async () => {
    if (isBusy(yes)) return;
    setBusy(yes, true);
    error.textContent = '';
    try {
      const conv = await api('POST', `/v1/join/${encodeURIComponent(handle)}`);
      if (await enterConversation(s, conv)) done(false);
    } catch (err) {
      if (err.status !== 401) error.textContent = `Could not join ${title}: ${err.message}`;
    } finally {
      setBusy(yes, false);
    }
  });
  // Above the list, which a phone shows too (it hides the conversation pane while none is open).
  if (s.open) closeConversation();
  $('#conv-list').closest('nav').before(ask);
  yes.focus();
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
    $('#new-dm').focus();
  });
  // Above the list, which a phone shows too (it hides the conversation pane while none is open).
  if (s.open && NARROW.matches) closeConversation();
  $('#conv-list').closest('nav').before(notice);
  notice.querySelector('button').focus();
}

function getUser(id) {
  const s = state;
  let p = s.users.get(id);
  if (!p) {
    p = api('GET', `/v1/users/${id}`).then(
      (u) => {
        s.names.set(id, u.name);
        s.info.set(id, u);
        return u;
      },
      (e) => {
        s.users.delete(id); // try again next time
        if (e.status === 404) s.names.set(id, 'Unknown user');
        return { id, name: e.status === 404 ? 'Unknown user' : '…' };
      },
    );
    s.users.set(id, p);
  }
  return p;
}

async function makeEntry(c) {
  const e = {
    id: c.id,
    conv: c,
    name: c.name || '',
    last: c.last_message || null,
    unread: c.unread_count || 0,
    activity: c.last_message?.created_at || c.created_at,
    li: null,
    btn: null,
  };
  if (c.kind === 'dm') {
    let members = c.members;
    if (!members) {
      try {
        members = (await api('GET', `/v1/conversations/${c.id}`)).members;
      } catch {
        members = [];
      }
    }
    const other = (members || []).find((id) => id !== state.me.id) ?? state.me.id;
    e.other = other;
    e.name = (await getUser(other)).name;
  } else if (!e.name) {
    e.name = c.kind === 'channel' ? 'Channel' : 'Group';
  }
  return e;
}

/** The entry of a conversation, fetching it once if it is new to us (`known` when the caller has it). */
function ensureConversation(id, known) {
  const s = state;
  if (s.convs.has(id)) return Promise.resolve(s.convs.get(id));
  if (s.inflight.has(id)) return s.inflight.get(id);
  const p = (async () => {
    try {
      const c = known && known.members ? known : await api('GET', `/v1/conversations/${id}`);
      const e = await makeEntry(c);
      if (state !== s) return null;
      if (s.convs.has(id)) return s.convs.get(id);
      s.convs.set(id, e);
      renderList();
      if (e.other) subscribePresence([e.other]);
      return e;
    } catch {
      return null;
    } finally {
      s.inflight.delete(id);
    }
  })();
  s.inflight.set(id, p);
  return p;
}

/** A conversation just made or joined: into the list (fetched once, unless we know its `members`), the panels
 * closed, and open. False when it could not be listed, or the session changed meanwhile. */
async function enterConversation(s, conv, members) {
  if (state !== s) return false;
  const e = await ensureConversation(conv.id, conv.members || !members ? conv : { ...conv, members });
  if (!e || state !== s) return false;
  s.setPanel(null);
  openConversation(e.id);
  return true;
}

/** Keeps a user we were handed (a search result), so nothing asks the server for them again. */
function knowUser(s, u) {
  s.users.set(u.id, Promise.resolve(u));
  s.names.set(u.id, u.name);
  s.info.set(u.id, u);
}

function activityTime(e) {
  const t = Date.parse(e.activity);
  return Number.isNaN(t) ? 0 : t;
}

function renderList() {
  const s = state;
  const list = $('#conv-list');
  const entries = [...s.convs.values()].sort(
    (a, b) => activityTime(b) - activityTime(a) || cmpId(b.last?.id || '0', a.last?.id || '0') || cmpId(b.id, a.id),
  );
  for (const e of entries) renderEntry(e);
  const current = [...list.children];
  if (current.length !== entries.length || entries.some((e, i) => current[i] !== e.li)) {
    const focused = /** @type {HTMLElement | null} */ (document.activeElement);
    list.replaceChildren(...entries.map((e) => e.li));
    if (focused && focused !== document.activeElement && list.contains(focused)) focused.focus({ preventScroll: true });
  }
  const empty = $('#conv-empty');
  if (s.listReady) {
    empty.textContent = 'No conversations yet. Start a direct message or a group, or join a channel.';
    empty.hidden = entries.length > 0;
  }
  const unread = entries.reduce((n, e) => n + e.unread, 0);
  document.title = unread ? `(${unread}) Parley` : 'Parley';
}

function lastText(m) {
  if (!m) return 'No messages yet';
  if (m.deleted) return 'Message deleted';
  return m.text ?? '';
}

function renderEntry(e) {
  if (!e.btn) {
    e.btn = h('button', { type: 'button', class: 'conv-item', dataset: { conversationId: e.id } });
    e.btn.addEventListener('click', () => openConversation(e.id));
    e.li = h('li', {}, e.btn);
  }
  const failed = [...state.pending.values()].find((p) => p.cid === e.id && p.failed);
  const last = failed ? h('span', { class: 'conv-last failed' }, `Not sent: ${failed.text}`) : h('span', { class: 'conv-last' }, lastText(e.last));
  const parts = [h('span', { class: 'conv-name' }, e.name, presenceDot(e.other)), ' ', last];
  // The count's words are for screen readers, which read the button's text as its name: "Bob, 3 unread".
  if (e.unread > 0) parts.push(h('span', { class: 'vh' }, ', '), h('span', { class: 'badge' }, String(e.unread), h('span', { class: 'vh' }, ' unread')));
  e.btn.replaceChildren(...parts);
  if (state.open?.id === e.id) e.btn.setAttribute('aria-current', 'true');
  else e.btn.removeAttribute('aria-current');
}

// --- events ------------------------------------------------------------------------------------------------

function applyEvent(f) {
  const s = state;
  switch (f.type) {
    case 'message.created':
      applyMessage(f.message);
      stopTyping(f.conversation_id, f.message.author_id);
      break;
    case 'message.deleted': {
      const e = s.convs.get(f.conversation_id);
      const tomb = (m) => ({ ...m, text: undefined, deleted: true });
      if (e?.last?.id === f.message_id) {
        e.last = tomb(e.last);
        renderList();
      }
      const o = s.open?.id === f.conversation_id ? s.open : null;
      const m = o?.data.get(f.message_id);
      if (m) {
        o.data.set(m.id, tomb(m));
        const art = o.byId.get(m.id);
        if (art) fillArticle(art, o.data.get(m.id));
      }
      break;
    }
    case 'message.hidden': {
      if (s.open?.id === f.conversation_id) forget(s.open, f.message_id);
      // The list showed it as the last message: the server knows which one is the last visible now.
      if (s.convs.get(f.conversation_id)?.last?.id === f.message_id) loadList();
      break;
    }
    case 'read.updated': {
      const e = s.convs.get(f.conversation_id);
      const o = s.open;
      if (f.user_id !== s.me.id && o?.id === f.conversation_id && o.reads) {
        const had = o.reads.get(f.user_id);
        if (!had || cmpId(f.message_id, had) > 0) {
          o.reads.set(f.user_id, f.message_id);
          renderReceipts(o);
        }
      }
      if (f.user_id === s.me.id && e && e.unread && (!e.last || cmpId(f.message_id, e.last.id) >= 0)) {
        e.unread = 0;
        renderList();
      }
      break;
    }
    case 'conversation.created':
      ensureConversation(f.conversation.id);
      break;
    case 'member.joined': {
      if (f.user_id === s.me.id) {
        ensureConversation(f.conversation_id);
        break;
      }
      const initial = s.initial.get(f.conversation_id);
      if (initial?.has(f.user_id)) {
        initial.delete(f.user_id); // an initial member of a conversation we just made: not news
        break;
      }
      systemLine(f.conversation_id, f.user_id, 'joined');
      break;
    }
    case 'member.left':
      if (f.user_id === s.me.id) removeConversation(f.conversation_id);
      else systemLine(f.conversation_id, f.user_id, 'left');
      break;
    case 'reaction.added':
    case 'reaction.removed':
      applyReaction(f.conversation_id, f.message_id, f.emoji, f.user_id, f.type === 'reaction.added');
      break;
    default:
      break; // others: not shown
  }
}

function removeConversation(id) {
  const s = state;
  const e = s.convs.get(id);
  if (!e) return;
  e.li?.remove();
  s.convs.delete(id);
  s.initial.delete(id);
  if (s.open?.id === id) closeConversation();
  renderList();
}

/** "NAME joined" / "NAME left" in the open conversation's log, after the newest message when it happened.
 * Kept in `o.sys` by that message, so the line comes back whenever the window renders the message again. */
async function systemLine(cid, uid, what) {
  const s = state;
  const o = s.open;
  if (o?.id !== cid) return;
  const at = o.newest || '';
  const u = await getUser(uid);
  if (s.open !== o) return;
  const text = `${u.name} ${what}`;
  if (!o.sys.has(at)) o.sys.set(at, []);
  o.sys.get(at).push(text);
  const anchor = at ? o.byId.get(at) : null;
  if (at ? !anchor : o.lo > 0) return; // off the window: shown when its place is
  const log = $('#log');
  const stick = atBottom(log);
  let ref = anchor ? anchor.nextElementSibling : log.firstElementChild;
  while (ref?.classList.contains('system')) ref = ref.nextElementSibling;
  log.insertBefore(h('p', { class: 'system' }, text), ref);
  if (stick) log.scrollTop = log.scrollHeight;
}

/** The system lines kept after message `id` ('' for those before any message). */
const systemLines = (o, id) => (o.sys.get(id) || []).map((text) => h('p', { class: 'system' }, text));

/** A reaction added or removed (an event, or our own request answered): upserts the open message's reactions. */
function applyReaction(cid, mid, emoji, uid, add) {
  const s = state;
  const o = s.open?.id === cid ? s.open : null;
  const m = o?.data.get(mid);
  if (!m) return;
  const reactions = (m.reactions || []).map((r) => ({ emoji: r.emoji, user_ids: [...r.user_ids] }));
  let r = reactions.find((x) => x.emoji === emoji);
  if (add) {
    if (!r) reactions.push((r = { emoji, user_ids: [] }));
    if (r.user_ids.includes(uid)) return;
    r.user_ids.push(uid);
  } else {
    if (!r || !r.user_ids.includes(uid)) return;
    r.user_ids = r.user_ids.filter((x) => x !== uid);
  }
  o.data.set(mid, { ...m, reactions: reactions.filter((x) => x.user_ids.length) });
  const art = o.byId.get(mid);
  if (art) fillArticle(art, o.data.get(mid));
}

/** A stored message, from an event, an ack or history: updates the list and the open conversation. */
async function applyMessage(m) {
  const s = state;
  const e = await ensureConversation(m.conversation_id);
  if (!e || state !== s) return;
  const viewing = s.open?.id === m.conversation_id && !document.hidden;
  if (!e.last || cmpId(m.id, e.last.id) > 0) {
    e.last = m;
    e.activity = m.created_at;
    if (m.author_id !== s.me.id && !viewing) e.unread += 1;
    renderList();
  } else if (e.last.id === m.id) {
    e.last = m;
    renderList();
  }
  if (s.open?.id === m.conversation_id) {
    await showMessages(s.open, [m]);
    if (viewing) markRead();
  }
}

function onReply(f) {
  const s = state;
  if (!s) return;
  const p = [...s.pending.values()].find((x) => x.ref === f.ref);
  if (f.type === 'ack') {
    if (p) s.pending.delete(p.nonce);
    applyMessage(f.message);
    return;
  }
  if (!p) return;
  // A refused send stays, marked, until retried: in the log when its conversation is open, and in the list.
  p.failed = f.code === 'rate_limited' ? 'you are sending too fast; wait a moment.' : f.message || f.code;
  const art = s.open?.id === p.cid ? s.open.byNonce.get(p.nonce) : null;
  if (art) markFailed(art, p);
  const e = s.convs.get(p.cid);
  if (e) renderEntry(e);
}

async function resync() {
  const s = state;
  await loadList();
  if (state === s && s.open) openConversation(s.open.id, { reload: true });
}

// --- the open conversation ---------------------------------------------------------------------------------

async function openConversation(id, { reload = false } = {}) {
  const s = state;
  const e = s.convs.get(id);
  if (!e) return;
  if (s.open?.id === id && !reload) {
    if (!NARROW.matches) $('#msg').focus();
    return;
  }
  const prevOpen = s.open;
  const o = {
    id, ids: [], data: new Map(), lo: 0, hi: 0, byId: new Map(), byNonce: new Map(), oldest: null, newest: null, loading: false, atStart: false, readSent: null, gen: ++s.openGen,
    reads: e.conv.kind === 'channel' ? null : new Map(), // user id -> message id they read up to (others only)
    markAt: new Map(), // message id -> user ids whose read marker sits after it
    typers: new Map(), // user id -> timer hiding their "is typing…"
    sys: new Map(), // message id ('' for none) -> the system lines ("NAME joined") that came after it
  };
  if (prevOpen) for (const t of prevOpen.typers.values()) clearTimeout(t);
  if (s.panel === 'invite') s.setPanel(null);
  s.open = o;
  const log = $('#log');
  const keepDraft = prevOpen?.id === id;
  $('#shell').classList.add('has-open');
  $('#placeholder').hidden = true;
  $('#conv').hidden = false;
  $('#conv-title').textContent = e.name;
  $('#typing').textContent = '';
  hideProfile();
  renderConvTools(o, e);
  renderHeadPresence();
  log.replaceChildren();
  showNewButton(false);
  log.setAttribute('aria-busy', 'true');
  if (!keepDraft) {
    $('#msg').value = '';
    composerInput();
  }
  e.unread = 0;
  renderList();
  // On a phone, focusing the composer would cover the conversation with the keyboard: focus the heading.
  if (!reload) (NARROW.matches ? $('#conv-title') : $('#msg')).focus({ preventScroll: true });
  // Sends still waiting for their ack stay shown as pending.
  for (const p of s.pending.values()) if (p.cid === id) placePending(o, p);
  try {
    const { messages } = await api('GET', `/v1/conversations/${id}/messages?limit=${PAGE}`);
    if (s.open !== o) return;
    await showMessages(o, messages);
    // A conversation just joined or fetched alone comes without its last message: the newest page has it.
    const newest = messages[messages.length - 1];
    if (newest && (!e.last || cmpId(newest.id, e.last.id) > 0)) {
      e.last = newest;
      e.activity = newest.created_at;
      renderList();
    }
    o.atStart = messages.length < PAGE;
    log.scrollTop = log.scrollHeight;
    markRead();
    loadReceipts(o);
    fillUp(o);
  } catch (err) {
    if (s.open === o && err.status !== 401) log.append(h('p', { class: 'log-note' }, `Could not load messages: ${err.message}`));
  } finally {
    if (s.open === o) log.removeAttribute('aria-busy');
  }
}

/** The open conversation's header tools: "Leave" (groups and channels) and a channel's join link. */
function renderConvTools(o, e) {
  const s = state;
  const show = (c) => {
    $('#leave').hidden = c.kind === 'dm';
    $('#invite-btn').hidden = c.kind === 'dm';
    $('#join-box').hidden = !(c.kind === 'channel' && c.join_url);
    $('#join-link').textContent = c.kind === 'channel' ? c.join_url || '' : '';
  };
  show(e.conv);
  if (e.conv.kind === 'dm') return;
  api('GET', `/v1/conversations/${e.id}`).then((c) => {
    if (state !== s) return;
    e.conv = { ...e.conv, ...c };
    if (s.open === o) show(e.conv);
    // A group's members are few: followed, their new names and avatars show here live too. (A channel's
    // could be thousands: their changes show on the next load.)
    if (c.kind === 'group') followUsers(c.members || []);
  }, () => {});
}

async function leaveOpen() {
  const s = state;
  const o = s.open;
  const button = $('#leave');
  if (!o || isBusy(button)) return;
  setBusy(button, true);
  try {
    await api('POST', `/v1/conversations/${o.id}/leave`);
    if (state === s) removeConversation(o.id);
  } catch (err) {
    if (state === s && s.open === o && err.status !== 401) $('#log').append(h('p', { class: 'log-note', role: 'alert' }, `Could not leave: ${err.message}`));
  } finally {
    setBusy(button, false);
  }
}

function closeConversation() {
  const s = state;
  const id = s.open?.id;
  if (s.open) for (const t of s.open.typers.values()) clearTimeout(t);
  hideProfile();
  if (s.panel === 'invite') s.setPanel(null);
  s.open = null;
  $('#shell').classList.remove('has-open');
  $('#conv').hidden = true;
  $('#placeholder').hidden = false;
  renderList();
  // Back to the conversation's entry, or, when it is gone (left), to the start of the list's controls.
  (s.convs.get(id)?.btn ?? $('#new-dm'))?.focus();
}

/** The newest message on screen: the last article whose top is above the log's bottom edge. */
function lastVisible(o) {
  const bottom = $('#log').getBoundingClientRect().bottom;
  for (let i = o.hi - 1; i >= o.lo; i--) {
    const art = o.byId.get(o.ids[i]);
    if (art && art.getBoundingClientRect().top < bottom) return o.ids[i];
  }
  return null;
}

/** Moves the read checkpoint to the newest message on screen (never back): scrolled far up, what is below
 * has not been read. */
function markRead() {
  const s = state;
  const o = s.open;
  if (!o || !o.newest || document.hidden) return;
  const upTo = lastVisible(o);
  if (!upTo) return;
  const e = s.convs.get(o.id);
  const point = o.readSent && cmpId(o.readSent, upTo) > 0 ? o.readSent : upTo;
  if (e) {
    const unread = o.ids.filter((id) => cmpId(id, point) > 0 && o.data.get(id)?.author_id !== s.me.id).length;
    if (e.unread !== unread) {
      e.unread = unread;
      renderList();
    }
  }
  if (o.readSent && cmpId(o.readSent, upTo) >= 0) return;
  o.readSent = upTo;
  api('POST', `/v1/conversations/${o.id}/read`, { message_id: upTo }).catch(() => {
    if (s.open === o) o.readSent = null;
  });
}

let readTimer = 0;
/** Scrolling shows more: reads are marked once it settles. */
function markReadSoon() {
  clearTimeout(readTimer);
  readTimer = setTimeout(markRead, 250);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state?.open) markRead();
});

// The log is a window over the loaded messages: `o.ids` holds every loaded id in order (their messages in
// `o.data`), and only `o.ids[o.lo .. o.hi)` have articles in the DOM (`o.byId`). Scrolling near an edge
// renders the next chunk there and drops articles far off the other edge; reaching the oldest loaded message
// fetches an older page. What is on screen stays put: every change is anchored on the first visible element.
const CHUNK = 50;
const MAX_WINDOW = 250;
const MARGIN = 1200; // px of content kept ready beyond each edge of the viewport

const atBottom = (log) => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

function setupLog() {
  const log = $('#log');
  log.addEventListener('scroll', () => {
    const o = state?.open;
    if (!o) return;
    if (log.scrollTop < MARGIN) extendUp(o);
    else if (log.scrollHeight - log.scrollTop - log.clientHeight < MARGIN) extendDown(o);
    if (o.hi === o.ids.length && atBottom(log)) showNewButton(false);
    markReadSoon();
  }, { passive: true });
  $('#new-msgs').addEventListener('click', () => {
    const o = state?.open;
    if (!o) return;
    jumpToEnd(o);
    $('#log').focus({ preventScroll: true });
  });
}

function showNewButton(show) {
  $('#new-msgs').hidden = !show;
}

/** Runs `fn` (which changes the log's content) keeping the first visible element where it was on screen. */
function anchored(fn) {
  const log = $('#log');
  const top = log.getBoundingClientRect().top;
  let anchor = null;
  for (const el of log.children) {
    if (el.getBoundingClientRect().bottom > top + 1) {
      anchor = el;
      break;
    }
  }
  const was = anchor ? anchor.getBoundingClientRect().top : 0;
  fn();
  if (anchor?.isConnected) log.scrollTop += anchor.getBoundingClientRect().top - was;
}

/** The first pending or failed send in the log (they sit after the stored messages), or null. */
function firstPending() {
  return [...$('#log').children].find((a) => a.dataset.state === 'pending' || a.dataset.state === 'failed') || null;
}

function articleFor(o, id) {
  const art = h('article', { class: 'msg' });
  o.byId.set(id, art);
  fillArticle(art, o.data.get(id));
  return art;
}

/** Renders the loaded messages `o.ids[from .. o.lo)` above the window. */
function growTop(o, from) {
  const frag = document.createDocumentFragment();
  if (from === 0) frag.append(...systemLines(o, ''));
  for (let i = from; i < o.lo; i++) frag.append(articleFor(o, o.ids[i]), ...systemLines(o, o.ids[i]));
  const log = $('#log');
  log.insertBefore(frag, log.firstChild);
  o.lo = from;
}

/** Renders the loaded messages `o.ids[o.hi .. to)` below the window. */
function growBottom(o, to) {
  const frag = document.createDocumentFragment();
  if (o.hi === 0) frag.append(...systemLines(o, ''));
  for (let i = o.hi; i < to; i++) frag.append(articleFor(o, o.ids[i]), ...systemLines(o, o.ids[i]));
  $('#log').insertBefore(frag, firstPending());
  o.hi = to;
}

/** Drops a rendered message's article with its system lines (those after it). Trimmed from the top, it is the
 * first one shown, so the lines before it (kept by messages already dropped) go too. */
function dropArticle(o, id, side) {
  const art = o.byId.get(id);
  o.byId.delete(id);
  if (!art) return;
  const drop = (step) => {
    for (let sib = step(art); sib?.classList.contains('system'); sib = step(art)) sib.remove();
  };
  drop((el) => el.nextElementSibling);
  if (side === 'top') drop((el) => el.previousElementSibling);
  art.remove();
}

function trim(o, side) {
  while (o.hi - o.lo > MAX_WINDOW) {
    if (side === 'top') dropArticle(o, o.ids[o.lo++], 'top');
    else dropArticle(o, o.ids[--o.hi], 'bottom');
  }
  syncPending(o);
}

/** Pending sends show after the newest message, so only while the window reaches it. */
function syncPending(o) {
  const log = $('#log');
  const atEnd = o.hi === o.ids.length;
  for (const art of o.byNonce.values()) {
    if (atEnd && !art.isConnected) log.append(art);
    else if (!atEnd && art.isConnected) art.remove();
  }
}

function extendUp(o) {
  if (o.lo > 0) {
    anchored(() => {
      growTop(o, Math.max(0, o.lo - CHUNK));
      trim(o, 'bottom');
    });
    renderReceipts(o);
  } else {
    loadOlder();
  }
}

function extendDown(o) {
  if (o.hi >= o.ids.length) return;
  anchored(() => {
    growBottom(o, Math.min(o.ids.length, o.hi + CHUNK));
    trim(o, 'top');
  });
  renderReceipts(o);
}

/** Shows the newest messages and scrolls to them. */
function jumpToEnd(o) {
  const log = $('#log');
  if (o.hi < o.ids.length) {
    for (const art of o.byId.values()) art.remove();
    for (const p of log.querySelectorAll('.system')) p.remove();
    o.byId.clear();
    o.lo = o.hi = Math.max(0, o.ids.length - CHUNK);
    growBottom(o, o.ids.length);
    syncPending(o);
    renderReceipts(o);
  }
  log.scrollTop = log.scrollHeight;
  showNewButton(false);
}

/** When the first page does not fill the log, there is nothing to scroll: load more until it does. */
function fillUp(o) {
  const log = $('#log');
  if (state?.open === o && log.scrollHeight <= log.clientHeight + 80) extendUp(o);
}

async function loadOlder() {
  const s = state;
  const o = s?.open;
  if (!o || o.loading || o.atStart || !o.ids.length) return;
  o.loading = true;
  let failed = false;
  const log = $('#log');
  const note = $('#log-loading');
  note.hidden = false;
  log.setAttribute('aria-busy', 'true');
  try {
    const { messages } = await api('GET', `/v1/conversations/${o.id}/messages?before=${o.ids[0]}&limit=${PAGE}`);
    if (s.open !== o) return;
    if (messages.length < PAGE) o.atStart = true;
    await showMessages(o, messages, true);
  } catch {
    // Scrolling to the top again retries; filling the screen does not, or a failing server (429, offline)
    // would be asked again at once, in a loop.
    failed = true;
  } finally {
    o.loading = false;
    if (s.open === o) {
      note.hidden = true;
      log.removeAttribute('aria-busy');
      if (!failed) fillUp(o);
    }
  }
}

/** Where `id` goes in the sorted `ids`. */
function insertIndex(ids, id) {
  let a = 0;
  let b = ids.length;
  if (b && cmpId(id, ids[b - 1]) > 0) return b;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (cmpId(ids[mid], id) < 0) a = mid + 1;
    else b = mid;
  }
  return a;
}

/** Upserts stored messages into the open conversation, keyed by id (and by nonce for our pending sends).
 *  `older`: a page from before the loaded ones, kept in place on screen. */
async function showMessages(o, messages, older = false) {
  const s = state;
  await Promise.all([...new Set(messages.map((m) => m.author_id))].map(getUser));
  if (s.open !== o) return;
  const log = $('#log');
  const stick = atBottom(log);
  let mine = false;
  let unseen = false;
  const apply = () => {
    for (const m of messages) {
      if (o.data.has(m.id)) {
        o.data.set(m.id, m);
        const art = o.byId.get(m.id);
        if (art) fillArticle(art, m);
        continue;
      }
      let pendingArt = null;
      if (m.nonce && o.byNonce.has(m.nonce)) {
        pendingArt = o.byNonce.get(m.nonce);
        o.byNonce.delete(m.nonce);
        s.pending.delete(m.nonce);
        mine = true;
      }
      o.data.set(m.id, m);
      const wasAtEnd = o.hi === o.ids.length;
      const i = insertIndex(o.ids, m.id);
      o.ids.splice(i, 0, m.id);
      if (i < o.lo) {
        o.lo++;
        o.hi++;
        pendingArt?.remove();
      } else if (i < o.hi || (i === o.hi && (wasAtEnd || i === o.lo))) {
        const art = pendingArt || h('article', { class: 'msg' });
        o.byId.set(m.id, art);
        fillArticle(art, m);
        const after = i + 1 <= o.hi ? o.byId.get(o.ids[i + 1]) : null;
        log.insertBefore(art, after || firstPending());
        o.hi++;
      } else {
        pendingArt?.remove();
        if (i === o.ids.length - 1 && m.author_id !== s.me.id) unseen = true;
      }
    }
    o.oldest = o.ids[0] || null;
    o.newest = o.ids[o.ids.length - 1] || null;
  };
  if (older) {
    anchored(() => {
      apply();
      trim(o, 'bottom');
    });
  } else if (stick || mine) {
    apply();
    trim(o, 'top');
    if (o.hi < o.ids.length) jumpToEnd(o); // our own send, acked after the window moved up
    log.scrollTop = log.scrollHeight;
  } else {
    // Scrolled up: the view stays; a window grown too big sheds the side farther from what is on screen.
    anchored(() => {
      apply();
      trim(o, log.scrollTop + log.clientHeight / 2 > log.scrollHeight / 2 ? 'top' : 'bottom');
    });
    if (messages.some((m) => m.author_id !== s.me.id && m.id === o.newest)) {
      unseen = true;
    }
  }
  if (unseen) showNewButton(true);
  if (messages.length) renderReceipts(o);
}

/** Forgets a message hidden from us (deleted for me): its data and its article. */
function forget(o, id) {
  const i = o.ids.indexOf(id);
  if (i < 0) return;
  if (o.byId.get(id)?.contains(document.activeElement)) $('#log').focus({ preventScroll: true });
  o.byId.get(id)?.remove();
  o.byId.delete(id);
  o.data.delete(id);
  o.ids.splice(i, 1);
  // Its system lines now follow the message before it, where they already stand on screen.
  const lines = o.sys.get(id);
  if (lines) {
    const prev = o.ids[i - 1] || '';
    o.sys.delete(id);
    o.sys.set(prev, [...(o.sys.get(prev) || []), ...lines]);
  }
  if (i < o.lo) o.lo--;
  if (i < o.hi) o.hi--;
  o.oldest = o.ids[0] || null;
  o.newest = o.ids[o.ids.length - 1] || null;
}

/** Fills an article from a stored message; synchronous, so an upsert cannot interleave with another. */
function fillArticle(art, m) {
  art._m = m;
  const s = state;
  const author = s.names.get(m.author_id);
  if (author === undefined) {
    // Not known yet (a new member, say): shown once it is, unless the article was refilled since.
    getUser(m.author_id).then((u) => {
      if (art._m !== m) return;
      art.querySelector('.author').textContent = u.name;
      art.querySelector('.msg-head .avatar')?.replaceWith(avatar(u, 'avatar-sm'));
    });
  }
  art.dataset.state = 'sent';
  art.dataset.messageId = m.id;
  art.classList.toggle('mine', m.author_id === s.me.id);
  art.classList.toggle('deleted', !!m.deleted);
  // Refilling must not lose the keyboard focus of a button in the article (a reaction toggled, say).
  const focused = art.contains(document.activeElement) ? /** @type {HTMLElement} */ (document.activeElement).dataset.key : null;
  const readBy = h('div', { class: 'read-by' });
  const o = s.open;
  if (o && o.byId.get(m.id) === art) fillReadBy(readBy, o.markAt.get(m.id));
  art.replaceChildren(
    h('header', { class: 'msg-head' },
      avatar(s.info.get(m.author_id) || { id: m.author_id, name: author ?? '' }, 'avatar-sm'),
      h('span', { class: 'author' }, author ?? '…'),
      ' ',
      h('time', { datetime: m.created_at }, shortTime(m.created_at))),
    h('p', { class: 'text' }, m.deleted ? 'This message was deleted.' : m.text ?? ''),
    ...messageTools(art, m),
    readBy,
  );
  if (focused) {
    const again = art.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus({ preventScroll: true });
    else art.closest('#log')?.focus({ preventScroll: true });
  }
}

const REACTIONS = [
  ['like', 'Like', '👍'],
  ['🎉', 'React with 🎉', '🎉'],
  ['❤️', 'React with ❤️', '❤️'],
  ['😂', 'React with 😂', '😂'],
];
const emojiShown = (emoji) => (emoji === 'like' ? '👍' : emoji);
const emojiName = (emoji) => (emoji === 'like' ? 'Like' : emoji);

/** The reactions with their counts, the "React" toolbar and the delete buttons of a stored message. */
function messageTools(art, m) {
  const s = state;
  const me = s.me.id;
  const mid = m.id;
  const cid = m.conversation_id;
  const out = [];
  const actions = h('div', { class: 'msg-actions' });
  if (!m.deleted) {
    const reactions = (m.reactions || []).filter((r) => r.user_ids?.length);
    const toggle = (emoji, button) => async () => {
      if (isBusy(button)) return;
      const mine = (art._m.reactions || []).some((r) => r.emoji === emoji && r.user_ids.includes(me));
      setBusy(button, true);
      try {
        await api(mine ? 'DELETE' : 'PUT', `/v1/conversations/${cid}/messages/${mid}/reactions/${encodeURIComponent(emoji)}`);
        if (state === s) applyReaction(cid, mid, emoji, me, !mine);
      } catch {
        /* the button stays as it was */
      } finally {
        setBusy(button, false);
      }
    };
    if (reactions.length) {
      const counts = h('div', { class: 'reactions', role: 'toolbar', 'aria-label': 'Reactions' }, ...reactions.map((r) => {
        const mine = r.user_ids.includes(me);
        const b = h('button', {
          type: 'button',
          class: 'reaction',
          'aria-pressed': String(mine),
          'aria-label': `${emojiName(r.emoji)} ${r.user_ids.length}`,
          dataset: { key: `count:${r.emoji}`, emoji: r.emoji },
        }, h('span', { 'aria-hidden': 'true' }, emojiShown(r.emoji)), ' ', h('span', { class: 'count' }, String(r.user_ids.length)));
        b.addEventListener('click', toggle(r.emoji, b));
        return b;
      }));
      roving(counts);
      out.push(counts);
    }
    const bar = h('div', { class: 'react', role: 'toolbar', 'aria-label': 'React' }, ...REACTIONS.map(([emoji, label, shown]) => {
      const mine = reactions.some((r) => r.emoji === emoji && r.user_ids.includes(me));
      const b = h('button', { type: 'button', 'aria-pressed': String(mine), 'aria-label': label, title: label, dataset: { key: `react:${emoji}` } }, shown);
      b.addEventListener('click', toggle(emoji, b));
      return b;
    }));
    roving(bar);
    actions.append(bar);
    if (m.author_id === me) actions.append(deleteButton(art, m, 'everyone', 'Delete for everyone'));
  }
  actions.append(deleteButton(art, m, 'me', 'Delete for me'));
  out.push(actions);
  return out;
}

function deleteButton(art, m, scope, label) {
  const s = state;
  const b = h('button', { type: 'button', class: 'link danger', dataset: { key: `delete:${scope}` } }, label);
  b.addEventListener('click', async () => {
    if (isBusy(b)) return;
    setBusy(b, true);
    try {
      await api('DELETE', `/v1/conversations/${m.conversation_id}/messages/${m.id}?for=${scope}`);
      if (state !== s || art._m?.id !== m.id) return;
      const o = s.open?.id === m.conversation_id ? s.open : null;
      if (scope === 'everyone') {
        const gone = { ...art._m, text: undefined, deleted: true, reactions: [] };
        if (o?.data.has(m.id)) o.data.set(m.id, gone);
        fillArticle(art, gone);
      } else if (o) {
        forget(o, m.id);
      } else {
        art.remove();
      }
    } catch {
      setBusy(b, false);
    }
  });
  return b;
}

function placePending(o, p) {
  const art = h('article', { class: 'msg mine', dataset: { state: 'pending', nonce: p.nonce } },
    h('header', { class: 'msg-head' },
      avatar(state.me, 'avatar-sm'),
      h('span', { class: 'author' }, state.me.name),
      ' ',
      h('span', { class: 'status' }, 'Sending…')),
    h('p', { class: 'text' }, p.text));
  o.byNonce.set(p.nonce, art);
  $('#log').append(art);
  if (p.failed) markFailed(art, p);
  return art;
}

function markFailed(art, p) {
  const s = state;
  art.dataset.state = 'failed';
  const status = art.querySelector('.status');
  const retry = h('button', { type: 'button', class: 'link' }, 'Retry');
  retry.addEventListener('click', () => {
    if (state !== s) return;
    art.dataset.state = 'pending';
    status.textContent = 'Sending…';
    p.failed = null;
    p.ref = s.rt.send({ op: 'send', conversation_id: p.cid, text: p.text, nonce: p.nonce });
    const e = s.convs.get(p.cid);
    if (e) renderEntry(e);
  });
  status.replaceChildren(`Not sent: ${p.failed} `, retry);
}

// --- avatars, read markers, typing, presence, profile, settings --------------------------------------------

/** Initials of a name: "Bob Stone" → "BS". */
function initials(name) {
  const parts = String(name || '').trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return '?';
  const first = [...parts[0]][0] || '';
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] || '' : '';
  return (first + last).toUpperCase();
}

/** The blob: URL of an avatar (fetched once with the token, since the route needs it), or null. */
function avatarSrc(url) {
  const s = state;
  let p = s.avatars.get(url);
  if (!p) {
    p = blobUrl(url);
    s.avatars.set(url, p);
    // One that failed is asked for again after a while: not on every render, and not never.
    p.then((src) => !src && setTimeout(() => s.avatars.get(url) === p && s.avatars.delete(url), 30000));
  }
  return p;
}

/** Frees the blob behind an avatar URL no longer shown (replaced, or the session ended). */
function forgetAvatar(s, url) {
  const p = s.avatars.get(url);
  s.avatars.delete(url);
  p?.then((src) => src && URL.revokeObjectURL(src));
}

/** A user's avatar: their image if they have one, else their initials in a circle. Decorative (aria-hidden). */
function avatar(user, size = '') {
  const el = h('span', { class: `avatar ${size}`, 'aria-hidden': 'true' }, initials(user?.name));
  if (user?.avatar_url) {
    avatarSrc(user.avatar_url).then((src) => {
      if (!src) return;
      el.replaceChildren(h('img', { src, alt: '' }));
      el.classList.add('has-img');
    });
  }
  return el;
}

/** Where each other member has read up to, when a DM or group opens. */
async function loadReceipts(o) {
  const s = state;
  if (!o.reads) return;
  try {
    const { receipts } = await api('GET', `/v1/conversations/${o.id}/receipts`);
    if (s.open !== o) return;
    await Promise.all(receipts.filter((r) => r.user_id !== s.me.id).map((r) => getUser(r.user_id)));
    if (s.open !== o) return;
    for (const r of receipts) {
      if (r.user_id === s.me.id || !r.message_id) continue;
      const had = o.reads.get(r.user_id);
      if (!had || cmpId(r.message_id, had) > 0) o.reads.set(r.user_id, r.message_id);
    }
    renderReceipts(o);
  } catch {
    /* no markers; live events still move them */
  }
}

/** Puts each reader's marker after the last shown message they have read. */
function renderReceipts(o) {
  const s = state;
  if (!o.reads || s.open !== o) return;
  const ids = o.ids;
  const markAt = new Map();
  for (const [uid, read] of o.reads) {
    let at = null;
    for (const id of ids) {
      if (cmpId(id, read) <= 0) at = id;
      else break;
    }
    if (!at) continue;
    if (!markAt.has(at)) markAt.set(at, []);
    markAt.get(at).push(uid);
    if (!s.info.has(uid) && !o.asked?.has(uid)) {
      // Once per reader: their name (and avatar) come later.
      (o.asked ||= new Set()).add(uid);
      getUser(uid).then(() => s.open === o && renderReceipts(o));
    }
  }
  o.markAt = markAt;
  for (const [id, art] of o.byId) {
    const box = art.querySelector(':scope > .read-by');
    if (box) fillReadBy(box, markAt.get(id));
  }
}

function fillReadBy(box, uids) {
  const s = state;
  const key = (uids || []).join(',');
  if (box.dataset.readers === key) return;
  box.dataset.readers = key;
  box.replaceChildren(...(uids || []).map((uid) => {
    const u = s.info.get(uid) || { id: uid, name: s.names.get(uid) || '…' };
    const mark = avatar(u, 'avatar-xs');
    mark.removeAttribute('aria-hidden');
    mark.setAttribute('role', 'img');
    mark.setAttribute('aria-label', `Read by ${u.name}`);
    mark.title = `Read by ${u.name}`;
    mark.classList.add('read-mark');
    return mark;
  }));
}

const TYPING_EVERY = 3000;
const TYPING_SHOWN = 5000;

/** The composer changed: tell the others we are typing, at most every 3 s. */
function sendTyping() {
  const s = state;
  const o = s?.open;
  if (!o || !$('#msg').value.trim() || !s.rt.ready) return;
  const now = Date.now();
  if (now - (s.typingSent.get(o.id) || 0) < TYPING_EVERY) return;
  s.typingSent.set(o.id, now);
  s.rt.send({ op: 'typing', conversation_id: o.id });
}

function startTyping(cid, uid) {
  const s = state;
  const o = s.open;
  if (o?.id !== cid || uid === s.me.id) return;
  clearTimeout(o.typers.get(uid));
  o.typers.set(uid, setTimeout(() => stopTyping(cid, uid), TYPING_SHOWN));
  getUser(uid).then(() => s.open === o && renderTyping(o));
  renderTyping(o);
}

function stopTyping(cid, uid) {
  const s = state;
  const o = s?.open;
  if (o?.id !== cid || !o.typers.has(uid)) return;
  clearTimeout(o.typers.get(uid));
  o.typers.delete(uid);
  renderTyping(o);
}

function renderTyping(o) {
  const s = state;
  const names = [...o.typers.keys()].map((uid) => s.names.get(uid) || 'Someone');
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  const el = $('#typing');
  if (el.textContent !== text) el.textContent = text;
}

/** Ephemeral frames and op replies that are not acks of sends. */
function onFrame(f) {
  switch (f.type) {
    case 'typing':
      startTyping(f.conversation_id, f.user_id);
      break;
    case 'presence':
      for (const u of f.users || []) setPresence(u.user_id, u.online, u.last_seen);
      break;
    case 'presence.updated':
      setPresence(f.user_id, f.online, f.last_seen);
      break;
    case 'user.updated':
      if (f.user?.id) updateUser(f.user);
      break;
    default:
      break;
  }
}

/** Follows the presence (and so the profile changes) of users beyond the DM partners: members of groups
 * opened here. Kept for the next connection too. */
function followUsers(ids) {
  const s = state;
  const fresh = ids.filter((id) => id !== s.me.id && !s.followed.has(id));
  for (const id of fresh) s.followed.add(id);
  if (fresh.length) subscribePresence(fresh);
}

/** Follows the DM partners' and the followed users' presence on this connection (again after every
 * reconnect). */
function subscribePresence(ids) {
  const s = state;
  if (!s.rt.ready || !s.listReady) return;
  const partners = [...s.convs.values()].map((e) => e.other).filter((id) => id && id !== s.me.id);
  const want = ids || [...new Set([...partners, ...s.followed])];
  for (let i = 0; i < want.length; i += 1000) s.rt.send({ op: 'presence_sub', user_ids: want.slice(i, i + 1000) });
}

function setPresence(uid, online, lastSeen) {
  const s = state;
  const prev = s.presence.get(uid);
  const next = { online: !!online, last_seen: lastSeen || prev?.last_seen || null };
  s.presence.set(uid, next);
  if (prev && prev.online === next.online && prev.last_seen === next.last_seen) return;
  for (const e of s.convs.values()) if (e.other === uid && e.btn) renderEntry(e);
  renderHeadPresence();
  if (s.profile?.user.id === uid) renderProfile();
}

/** A dot saying whether a DM partner is online; nothing until we know. */
function presenceDot(uid) {
  const p = uid && uid !== state.me.id ? state.presence.get(uid) : null;
  if (!p) return null;
  const label = p.online ? 'online' : 'offline';
  return h('span', { class: `dot ${label}`, role: 'img', 'aria-label': label, title: label });
}

function openEntry() {
  const s = state;
  return s.open ? s.convs.get(s.open.id) : null;
}

/** The open DM's header: the partner's presence dot and the "Profile of NAME" button. */
function renderHeadPresence() {
  const e = openEntry();
  const dot = $('#conv-presence');
  const button = $('#profile-btn');
  const isDm = e?.conv.kind === 'dm' && e.other && e.other !== state.me.id;
  button.hidden = !isDm;
  if (isDm) button.setAttribute('aria-label', `Profile of ${e.name}`);
  const p = isDm ? state.presence.get(e.other) : null;
  dot.hidden = !p;
  if (p) {
    const label = p.online ? 'online' : 'offline';
    dot.className = `dot ${label}`;
    dot.setAttribute('aria-label', label);
    dot.title = label;
  }
}

function hideProfile() {
  const s = state;
  if (s) s.profile = null;
  $('#profile').hidden = true;
  $('#profile').replaceChildren();
  $('#profile-btn').setAttribute('aria-expanded', 'false');
}

async function toggleProfile() {
  const s = state;
  const e = openEntry();
  if (!e?.other) return;
  if (s.profile) {
    hideProfile();
    return;
  }
  const o = s.open;
  const known = s.info.get(e.other) || { id: e.other, name: e.name };
  s.profile = { user: known, contact: null, busy: false };
  $('#profile-btn').setAttribute('aria-expanded', 'true');
  $('#profile').hidden = false;
  renderProfile();
  try {
    const [user, contacts] = await Promise.all([
      api('GET', `/v1/users/${e.other}`),
      api('GET', '/v1/contacts').catch(() => null),
    ]);
    if (state !== s || s.open !== o || !s.profile) return;
    s.profile.user = user;
    if (contacts) s.profile.contact = contacts.contacts.some((c) => c.id === user.id);
    if (user.presence) {
      const live = s.presence.get(user.id);
      // The live state (from events) wins over what the request saw, which may be older.
      setPresence(user.id, live ? live.online : user.presence.online, user.presence.last_seen);
    }
    renderProfile();
  } catch (err) {
    if (state === s && s.profile) $('#profile').append(h('p', { class: 'hint', role: 'alert' }, `Could not load the profile: ${err.message}`));
  }
}

function renderProfile() {
  const s = state;
  const pr = s.profile;
  if (!pr) return;
  const u = pr.user;
  const p = s.presence.get(u.id) || (u.presence ? { online: u.presence.online, last_seen: u.presence.last_seen } : null);
  let status = '';
  if (p?.online) status = 'Online';
  else if (p?.last_seen) status = `Last seen ${shortTime(p.last_seen)}`;
  else if (p) status = 'Offline';
  const children = [
    avatar(u, 'avatar-lg'),
    h('div', { class: 'profile-info' },
      h('p', { class: 'profile-name' }, u.name),
      u.username ? h('p', { class: 'profile-handle' }, `@${u.username}`) : null,
      h('p', { class: 'profile-status' }, status)),
  ];
  if (pr.contact !== null) {
    const b = h('button', { type: 'button', class: 'profile-contact', 'aria-disabled': pr.busy ? 'true' : null }, pr.contact ? 'Remove from contacts' : 'Add to contacts');
    b.addEventListener('click', () => toggleContact());
    children.push(b);
  }
  const focused = $('#profile').contains(document.activeElement) && document.activeElement.classList.contains('profile-contact');
  $('#profile').replaceChildren(...children);
  if (focused) $('#profile .profile-contact')?.focus();
}

async function toggleContact() {
  const s = state;
  const pr = s.profile;
  if (!pr || pr.busy) return;
  pr.busy = true;
  renderProfile();
  try {
    await api(pr.contact ? 'DELETE' : 'PUT', `/v1/contacts/${pr.user.id}`);
    if (s.profile === pr) pr.contact = !pr.contact;
  } catch (err) {
    if (s.profile === pr) $('#profile').append(h('p', { class: 'hint', role: 'alert' }, err.message));
  } finally {
    pr.busy = false;
    if (s.profile === pr) renderProfile();
  }
}

/** Someone's name or avatar changed (live, or our own change answered): everything showing them follows. */
function updateUser(u) {
  const s = state;
  const prev = s.info.get(u.id);
  if (prev?.avatar_url && prev.avatar_url !== u.avatar_url) forgetAvatar(s, prev.avatar_url);
  const user = prev ? { ...prev, ...u } : u;
  if (!('avatar_url' in u)) delete user.avatar_url;
  knowUser(s, user);
  if (u.id === s.me.id) {
    s.me = { ...s.me, ...user };
    $('#me-name').textContent = user.name;
    if (!$('#settings-panel').hidden) $('#settings-avatar').replaceWith(Object.assign(avatar(s.me, 'avatar-lg'), { id: 'settings-avatar' }));
  }
  for (const e of s.convs.values()) {
    if (e.other !== u.id || e.name === user.name) continue;
    e.name = user.name;
    renderEntry(e);
  }
  const o = s.open;
  if (o) {
    if (openEntry()?.other === u.id) {
      $('#conv-title').textContent = user.name;
      renderHeadPresence();
    }
    for (const art of o.byId.values()) if (art._m?.author_id === u.id) fillArticle(art, art._m);
    for (const box of $('#log').querySelectorAll('.read-by')) delete box.dataset.readers;
    renderReceipts(o);
    renderTyping(o);
  }
  if (s.profile?.user.id === u.id) {
    s.profile.user = { ...s.profile.user, ...user };
    renderProfile();
  }
}

const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

function setupSettings() {
  const s = state;
  const button = $('#settings');
  const panel = $('#settings-panel');
  const input = $('#avatar-input');
  const status = $('#avatar-status');
  // "Log out everywhere" asks first; the focus goes to "Cancel", the choice that changes nothing.
  const everywhere = $('#logout-all');
  const confirm = $('#logout-all-confirm');
  const confirmAlert = confirm.querySelector('[role="alert"]');
  const ask = (open) => {
    confirm.hidden = !open;
    everywhere.setAttribute('aria-expanded', String(open));
    confirmAlert.textContent = '';
  };
  const show = (open) => {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    ask(false);
    if (open) {
      if (s.open && NARROW.matches) closeConversation();
      $('#settings-avatar').replaceWith(Object.assign(avatar(s.me, 'avatar-lg'), { id: 'settings-avatar' }));
      input.focus();
    }
  };
  button.addEventListener('click', () => show(panel.hidden));
  const nameForm = $('#name-form');
  const nameStatus = $('#name-status');
  nameForm.elements.name.value = s.me.name;
  nameForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const save = nameForm.querySelector('button[type="submit"]');
    const name = nameForm.elements.name.value.trim();
    nameStatus.textContent = '';
    if (isBusy(save) || name === s.me.name) return;
    setBusy(save, true);
    try {
      const me = await api('PATCH', '/v1/users/me', { name });
      if (state !== s) return;
      updateUser(me);
      nameStatus.textContent = 'Name saved.';
    } catch (err) {
      if (state === s) nameStatus.textContent = err.message;
    } finally {
      setBusy(save, false);
    }
  });
  panel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      show(false);
      button.focus();
    }
  });
  everywhere.addEventListener('click', () => {
    ask(confirm.hidden);
    if (!confirm.hidden) $('#logout-all-no').focus();
  });
  $('#logout-all-no').addEventListener('click', () => {
    ask(false);
    everywhere.focus();
  });
  $('#logout-all-yes').addEventListener('click', (ev) => logoutEverywhere(ev.currentTarget, confirmAlert));
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    if (!file || isBusy(input)) return;
    if (!AVATAR_TYPES.includes(file.type)) {
      status.textContent = 'Choose a PNG, JPEG, WebP or GIF image.';
      return;
    }
    status.textContent = 'Uploading…';
    setBusy(input, true);
    try {
      const me = await upload('PUT', '/v1/users/me/avatar', file, file.type);
      if (state !== s) return;
      updateUser(me);
      status.textContent = 'Avatar updated.';
    } catch (err) {
      if (state === s) status.textContent = `Could not upload: ${err.message}`;
    } finally {
      setBusy(input, false);
      input.value = '';
    }
  });
}

// --- composer ----------------------------------------------------------------------------------------------

function setupComposer() {
  const form = $('#composer');
  const ta = $('#msg');
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      sendDraft();
    }
  });
  ta.addEventListener('input', composerInput);
  ta.addEventListener('input', sendTyping);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendDraft();
  });
}

/** Characters as the server counts them (Unicode scalar values): an emoji is one, not two UTF-16 units. */
const charCount = (text) => (text.length < COUNTER_FROM ? text.length : [...text].length);

function composerInput() {
  const ta = $('#msg');
  const n = charCount(ta.value);
  const counter = $('#msg-counter');
  counter.hidden = n < COUNTER_FROM;
  counter.textContent = n < COUNTER_FROM ? '' : `${fmtNumber(n)} / ${fmtNumber(MAX_TEXT)}`;
  counter.classList.toggle('over', n > MAX_TEXT);
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
}

function sendDraft() {
  const s = state;
  const o = s.open;
  const ta = $('#msg');
  const text = ta.value;
  if (!o || !text.trim() || charCount(text) > MAX_TEXT) return;
  const p = { nonce: uuid(), cid: o.id, text, ref: null };
  s.pending.set(p.nonce, p);
  jumpToEnd(o);
  placePending(o, p);
  $('#log').scrollTop = $('#log').scrollHeight;
  p.ref = s.rt.send({ op: 'send', conversation_id: o.id, text, nonce: p.nonce });
  ta.value = '';
  composerInput();
  ta.focus();
}

// --- side panels: new direct message, new group, channel directory ---------------------------------------

/** Each panel's button and section; at most one is open. "Invite" sits in the open conversation's header;
 * "Invite people" makes links into the organization. */
const PANELS = {
  dm: ['#new-dm', '#dm-panel'],
  group: ['#new-group', '#group-panel'],
  channels: ['#channels', '#channel-panel'],
  people: ['#invite-people', '#people-panel'],
  invite: ['#invite-btn', '#invite'],
};

function setupPanels() {
  const s = state;
  const search = setupPeopleSearch((u, b) => {
    if (s.panel === 'group') group.add(u);
    else if (s.panel === 'invite') invite(u, b);
    else startDm(u, b);
  });
  const group = setupGroupPanel();
  const dir = setupChannelPanel();
  const links = setupInvitePanel($('#people-panel'), s.me.org);
  /** Opens one panel (closing the others), or none. */
  s.setPanel = (name) => {
    s.panel = name;
    for (const [key, [t, p]] of Object.entries(PANELS)) {
      $(p).hidden = key !== name;
      $(t).setAttribute('aria-expanded', String(key === name));
    }
    search.reset();
    if (name === 'dm') $('#dm-panel').prepend($('#people-search'));
    if (name === 'group') $('#group-search-slot').append($('#people-search'));
    if (name === 'invite') $('#invite').append($('#people-search'));
    if (name !== 'group') group.reset();
    if (name !== 'channels') dir.reset();
    if (name === 'dm' || name === 'invite') $('#dm-q').focus();
    else if (name === 'group') $('#group-name').focus();
    else if (name === 'channels') dir.open();
    else if (name === 'people') links.open();
  };
  for (const [key, [t, p]] of Object.entries(PANELS)) {
    $(t).addEventListener('click', () => s.setPanel(s.panel === key ? null : key));
    $(p).addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        s.setPanel(null);
        $(t).focus();
      }
    });
  }
  /** Adds a colleague to the open group or channel; everyone there sees "NAME joined". */
  async function invite(user, button) {
    const o = s.open;
    if (!o || isBusy(button)) return;
    setBusy(button, true);
    try {
      await api('POST', `/v1/conversations/${o.id}/members`, { user_ids: [user.id] });
      if (state !== s) return;
      // Ready for the next one, like the group panel: the search is cleared and has the focus again.
      search.reset();
      $('#dm-hint').textContent = `${user.name} is in ${s.convs.get(o.id)?.name ?? 'it'} now.`;
    } catch (err) {
      if (state === s) $('#dm-hint').textContent = err.message;
    } finally {
      setBusy(button, false);
      if (state === s && s.panel === 'invite') $('#dm-q').focus();
    }
  }
  async function startDm(user, button) {
    if (isBusy(button)) return;
    setBusy(button, true);
    try {
      const conv = await api('POST', '/v1/conversations', { kind: 'dm', members: [user.id] });
      if (state !== s) return;
      knowUser(s, user);
      await enterConversation(s, conv, [s.me.id, user.id]);
    } catch (err) {
      $('#dm-hint').textContent = err.message;
    } finally {
      setBusy(button, false);
    }
  }
}

/** The colleague search (one input, shared by the DM and group panels); `pick(user, button)` on a click. */
function setupPeopleSearch(pick) {
  const input = $('#dm-q');
  const results = $('#dm-results');
  const hint = $('#dm-hint');
  const search = liveSearch(input, async (q, current) => {
    const s = state;
    if (!q) {
      results.replaceChildren();
      hint.textContent = 'Type a name or username.';
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
  const reset = () => {
    search.reset();
    results.replaceChildren();
    hint.textContent = 'Type a name or username.';
  };
  return { reset };
}

function setupGroupPanel() {
  const form = $('#group-form');
  const list = $('#group-chosen');
  const alert = form.querySelector('[role="alert"]');
  const button = form.querySelector('button[type="submit"]');
  const chosen = new Map(); // user id -> user
  const render = () => {
    list.replaceChildren(...[...chosen.values()].map((u) => {
      const remove = h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${u.name}` }, 'Remove');
      remove.addEventListener('click', () => {
        chosen.delete(u.id);
        render();
        $('#dm-q').focus();
      });
      return h('li', {}, h('span', { class: 'person-name' }, u.name), ' ', remove);
    }));
    $('#group-chosen-empty').hidden = chosen.size > 0;
  };
  const reset = () => {
    chosen.clear();
    render();
    form.reset();
    alert.textContent = '';
  };
  const add = (u) => {
    knowUser(state, u);
    chosen.set(u.id, u);
    render();
    $('#dm-q').value = '';
    $('#dm-results').replaceChildren();
    $('#dm-hint').textContent = `${u.name} added. Find another colleague, or create the group.`;
    $('#dm-q').focus();
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const s = state;
    if (isBusy(button)) return;
    const name = form.elements.name.value.trim();
    alert.textContent = '';
    if (!name) {
      alert.textContent = 'Give the group a name.';
      form.elements.name.focus();
      return;
    }
    if (!chosen.size) {
      alert.textContent = 'Choose at least one colleague.';
      $('#dm-q').focus();
      return;
    }
    const members = [...chosen.keys()];
    setBusy(button, true);
    try {
      const conv = await api('POST', '/v1/conversations', { kind: 'group', name, members });
      if (state !== s) return;
      s.initial.set(conv.id, new Set([s.me.id, ...members]));
      await enterConversation(s, conv, [s.me.id, ...members]);
    } catch (err) {
      alert.textContent = err.message;
    } finally {
      setBusy(button, false);
    }
  });
  return { add, reset };
}

function setupChannelPanel() {
  const input = $('#ch-q');
  const results = $('#ch-results');
  const hint = $('#ch-hint');
  const form = $('#channel-form');
  const alert = form.querySelector('[role="alert"]');
  const create = form.querySelector('button[type="submit"]');
  const search = liveSearch(input, async (q, current) => {
    const s = state;
    try {
      const { conversations } = await api('GET', `/v1/channels?q=${encodeURIComponent(q)}`);
      if (!current() || state !== s) return;
      hint.textContent = conversations.length
        ? `${conversations.length} channel${conversations.length === 1 ? '' : 's'}.`
        : q ? 'No channel found.' : 'No channels yet. Create one below.';
      results.replaceChildren(...conversations.map((c) => {
        const member = s.convs.has(c.id);
        const b = h('button', { type: 'button' }, `${member ? 'Open' : 'Join'} #${c.handle}`);
        b.addEventListener('click', () => go(c, member, b));
        const count = `${fmtNumber(c.member_count)} member${c.member_count === 1 ? '' : 's'}`;
        return h('li', { class: 'ch-item' },
          h('span', { class: 'ch-info' }, h('span', { class: 'ch-name' }, c.name || c.handle), ' ', h('span', { class: 'hint' }, count)),
          b);
      }));
    } catch (e) {
      if (current() && e.status !== 401) hint.textContent = e.message;
    }
  });
  const reset = () => {
    search.reset();
    results.replaceChildren();
    hint.textContent = '';
    form.reset();
    alert.textContent = '';
  };
  async function go(c, member, button) {
    const s = state;
    if (isBusy(button)) return;
    setBusy(button, true);
    try {
      if (!member) await api('POST', `/v1/conversations/${c.id}/join`);
      await enterConversation(s, c);
    } catch (err) {
      hint.textContent = err.message;
    } finally {
      setBusy(button, false);
    }
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const s = state;
    if (isBusy(create)) return;
    const name = form.elements.name.value.trim();
    const handle = form.elements.handle.value.trim().replace(/^#/, '').toLowerCase();
    alert.textContent = '';
    if (!name || !handle) {
      alert.textContent = 'A channel needs a name and a handle.';
      (name ? form.elements.handle : form.elements.name).focus();
      return;
    }
    setBusy(create, true);
    try {
      const conv = await api('POST', '/v1/conversations', { kind: 'channel', name, handle });
      if (state !== s) return;
      s.initial.set(conv.id, new Set([s.me.id]));
      await enterConversation(s, conv, [s.me.id]);
    } catch (err) {
      alert.textContent = err.message;
    } finally {
      setBusy(create, false);
    }
  });
  return { reset, open: () => { input.focus(); search.now(); } };
}

NARROW.addEventListener('change', () => {
  if (state?.open) $('#log').scrollTop = $('#log').scrollHeight;
});

// Another tab logged in or out: this one follows, rather than act as one user over REST (which reads the
// stored token) and as another over its socket.
window.addEventListener('storage', (e) => {
  if (e.key === TOKEN_KEY || e.key === null) location.reload();
});

boot();
