// REST client: the token, JSON requests and the API's error shape.

export const TOKEN_KEY = 'parley.token';
const USER_KEY = 'parley.user';
export const CURSOR_KEY = 'parley.cursor';

/** The login this browser keeps, in localStorage (so every tab shares it): the token and its user's id. */
export const session = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  get userId() {
    return localStorage.getItem(USER_KEY);
  },
  set(userId, token) {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, userId);
    sessionStorage.removeItem(CURSOR_KEY);
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
    sessionStorage.removeItem(CURSOR_KEY);
  },
};

/** Tokens logged out while the server could not be reached: they are revoked when it can be. */
const REVOKE_KEY = 'parley.revoke';

const staleTokens = () => {
  try {
    const list = JSON.parse(localStorage.getItem(REVOKE_KEY) || '[]');
    return Array.isArray(list) ? list.filter((t) => typeof t === 'string') : [];
  } catch {
    return [];
  }
};

/** Keeps `token` to revoke once the server can be reached (a logout while offline).
 * @param {string | null} token */
export function revokeLater(token) {
  if (!token) return;
  localStorage.setItem(REVOKE_KEY, JSON.stringify([...new Set([...staleTokens(), token])].slice(-20)));
  addEventListener('online', revokeStale, { once: true });
}

/** Revokes the tokens `revokeLater` kept; each is forgotten once the server has answered for it. */
export async function revokeStale() {
  for (const token of staleTokens()) {
    let res;
    try {
      res = await fetch('/v1/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(REQUEST_TIMEOUT) });
    } catch {
      addEventListener('online', revokeStale, { once: true });
      return; // still unreachable: next time
    }
    if (res.ok || (res.status >= 400 && res.status < 500)) {
      localStorage.setItem(REVOKE_KEY, JSON.stringify(staleTokens().filter((t) => t !== token)));
    }
  }
}

export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when the server could not be reached
   * @param {string} code the API's error code (`invite_required`, `rate_limited`, …), or `http_STATUS`
   * @param {string} message a sentence for people
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** Unreachable, or unavailable for a moment (a store outage, a busy server): nothing is wrong with the
   * request or the login, so the same request can simply be made again later. */
  get transient() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

/** What to tell people about an error answer: the server's sentence, except for the answers that mean "not
 * now" (a rate limit, an outage), which say when to try again in words of our own.
 * @param {number} status
 * @param {string | undefined} code
 * @param {string | undefined} message
 * @param {string | null} retryAfter the Retry-After header, in seconds
 */
function describe(status, code, message, retryAfter) {
  const wait = /^\d+$/.test(retryAfter || '') ? ` Try again in ${retryAfter} s.` : ' Try again shortly.';
  if (status === 429) return `Too many attempts for now.${wait}`;
  if (code === 'busy') return `The server is busy.${wait}`;
  if (status === 502 || status === 503 || status === 504) return `The server is unavailable for a moment.${wait}`;
  return message || `The server answered ${status}.`;
}

let unauthorized = () => {};
/** Called once a request made with a token answers 401: the token is gone.
 * @param {() => void} fn */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** One JSON request. Resolves to the parsed body (null for 204); rejects with an ApiError.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON when given
 * @returns {Promise<any>} */
export function api(method, path, body) {
  return request(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json', session.token);
}

/** One JSON request of a public route (single sign-on's), made without the login's token even when there is
 * one: their 401 refuses a sign-in (`sso_failed`), it does not end the session this browser keeps.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON when given
 * @returns {Promise<any>} */
export function publicApi(method, path, body) {
  return request(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json', null);
}

/** The bytes behind an authenticated URL (an avatar) as a blob: URL, or null.
 * @param {string} path
 * @returns {Promise<string | null>} */
export async function blobUrl(path) {
  const token = session.token;
  try {
    const res = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (!res.ok) return null;
    return URL.createObjectURL(await res.blob());
  } catch {
    return null;
  }
}

/** A request that has not answered by then fails as a network error, rather than hold up what waits on it
 * (the reconnect, which asks `/v1/gateway` first, on a half-open connection). */
const REQUEST_TIMEOUT = 30000;

/**
 * @param {string} method
 * @param {string} path
 * @param {string | undefined} body
 * @param {string | undefined} contentType
 * @param {string | null} token the login's token, or null for a request without it
 */
async function request(method, path, body, contentType, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (contentType) headers['Content-Type'] = contentType;
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT) });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  if (!res.ok) throw errorAnswer(res.status, await res.text().catch(() => ''), res.headers.get('Retry-After'), token);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** The ApiError of an answer that is not a success, from its status, body (the API's error shape, or
 * anything) and Retry-After header; also for answers read without fetch (an upload's XMLHttpRequest).
 * @param {number} status
 * @param {string} body
 * @param {string | null} retryAfter
 * @param {string | null} token the token the request was made with, if any
 * @returns {ApiError} */
export function errorAnswer(status, body, retryAfter, token) {
  let err = null;
  try {
    err = JSON.parse(body).error;
  } catch {
    /* not JSON */
  }
  // Only a 401 means the login is over. A 503 (the store is down for a moment) or a 429 keeps it: the
  // caller says so and tries again.
  if (status === 401 && token && session.token === token) {
    session.clear();
    unauthorized();
  }
  const code = err?.code || `http_${status}`;
  return new ApiError(status, code, describe(status, err?.code, err?.message, retryAfter));
}

// --- notifications -------------------------------------------------------------------------------------------

/** Where the server sends a user's notifications while they are away: a browser's Web Push subscription, or
 * a webhook; `endpoint` is the push service's URL or the webhook's. `this_session`: made by the session asking
 * (logging out removes it).
 * @typedef {{id: string, kind: 'web_push' | 'webhook', endpoint: string, created_at: string,
 *   this_session: boolean}} PushTarget */

/** The hours, in `time_zone` (an IANA name), when the server holds the user's notifications back (they go out
 * when the hours end); `start` after `end` spans midnight.
 * @typedef {{start: string, end: string, time_zone: string}} QuietHours */

/** The user's notification settings. @typedef {{quiet_hours: QuietHours | null}} NotificationSettings */

/** The server's VAPID public key, base64url: the `applicationServerKey` of a push subscription.
 * @returns {Promise<string>} */
export const vapidKey = () => api('GET', '/v1/push/vapid').then((answer) => answer.public_key);

/** @returns {Promise<PushTarget[]>} */
export const pushTargets = () => api('GET', '/v1/push/subscriptions').then((answer) => answer.subscriptions);

/** Gives the server this browser's push subscription: its endpoint and keys, as `toJSON()` has them.
 * @param {PushSubscription} subscription
 * @returns {Promise<PushTarget>} */
export function addPushSubscription(subscription) {
  const { endpoint, keys } = subscription.toJSON();
  return api('POST', '/v1/push/subscriptions', { kind: 'web_push', endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } });
}

/** @param {string} id
 * @returns {Promise<null>} */
export const removePushTarget = (id) => api('DELETE', `/v1/push/subscriptions/${id}`);

/** @returns {Promise<NotificationSettings>} */
export const notificationSettings = () => api('GET', '/v1/me/notifications');

/** @param {NotificationSettings} settings
 * @returns {Promise<NotificationSettings>} */
export const saveNotificationSettings = (settings) => api('PUT', '/v1/me/notifications', settings);

/** Changes the user's own settings in a conversation (muted, notified of every message).
 * @param {string} conversationId
 * @param {{muted?: boolean, notify_always?: boolean}} patch
 * @returns {Promise<import('/state.js').Membership>} */
export const updateMembership = (conversationId, patch) => api('PATCH', `/v1/conversations/${conversationId}/membership`, patch);

// --- your account --------------------------------------------------------------------------------------------

/** One of the user's sessions: a browser or device they logged in on. `device`: what it said it was (its
 * User-Agent) when it logged in, if anything; `current`: the session asking.
 * @typedef {{id: string, device?: string | null, created_at: string, last_used_at: string, current: boolean}} SessionInfo */

/** @returns {Promise<SessionInfo[]>} */
export const listSessions = () => api('GET', '/v1/users/me/sessions').then((answer) => answer.sessions);

/** Ends one of the user's sessions: that device is logged out (its socket closes with 4003).
 * @param {string} id
 * @returns {Promise<null>} */
export const endSession = (id) => api('DELETE', `/v1/users/me/sessions/${id}`);

/** Changes the user's password; every other session of theirs ends (403 `wrong_password`, 400
 * `invalid_password`).
 * @param {string} currentPassword
 * @param {string} newPassword
 * @returns {Promise<null>} */
export const changePassword = (currentPassword, newPassword) =>
  api('PUT', '/v1/users/me/password', { current_password: currentPassword, new_password: newPassword });

// --- administration (owners and administrators) ------------------------------------------------------------

/** A person as the organization's administrators see them: `last_seen` null if never, `deactivated_at` null
 * while the account is active.
 * @typedef {{user: import('/state.js').User, email: string, created_at: string, last_seen?: string | null,
 *   deactivated_at?: string | null}} Person */

/** One entry of the audit log: what (`kind`), done or refused, by whom (`actor_id`, null for the server's
 * operator), to whom or what, from where, and `detail` in words (a role's new value, a refusal's reason).
 * @typedef {{id: string, at: string, kind: string, outcome: 'done' | 'refused', actor_id?: string | null,
 *   target_user_id?: string | null, target_conversation_id?: string | null, address?: string | null,
 *   detail?: string | null}} AuditEntry */

/** What the audit log is filtered by: a kind, and times (RFC 3339) it is at or after (`since`) and before
 * (`until`). @typedef {{kind?: string, since?: string, until?: string}} AuditFilter */

/** A query string of the values given (the empty ones left out), with its "?", or "".
 * @param {Record<string, string | undefined>} values */
function query(values) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) q.set(key, value);
  const text = q.toString();
  return text ? `?${text}` : '';
}

/** A page of the organization's people, by id: those whose username, name or email starts with `q`, after
 * the person `after` (the `next` of the page before, null at the end).
 * @param {string} q
 * @param {string | null} after
 * @returns {Promise<{people: Person[], next?: string | null}>} */
export const listPeople = (q, after) => api('GET', `/v1/admin/people${query({ q, after })}`);

/** @param {string} userId
 * @param {import('/state.js').Role} role
 * @returns {Promise<Person>} */
export const setRole = (userId, role) => api('PUT', `/v1/admin/people/${userId}/role`, { role });

/** Deactivates a person: every session of theirs ends, and they cannot log in until reactivated.
 * @param {string} userId
 * @returns {Promise<Person>} */
export const deactivate = (userId) => api('POST', `/v1/admin/people/${userId}/deactivate`);

/** @param {string} userId
 * @returns {Promise<Person>} */
export const reactivate = (userId) => api('POST', `/v1/admin/people/${userId}/reactivate`);

/** A page of the audit log, newest first: entries before `before` (the `next` of the page before, null at
 * the end).
 * @param {AuditFilter} filter
 * @param {string | null} before
 * @returns {Promise<{entries: AuditEntry[], next?: string | null}>} */
export const auditLog = (filter, before) => api('GET', `/v1/admin/audit${query({ ...filter, before })}`);

/** The audit log as the server exports it (one JSON entry per line, oldest first), as a Blob.
 * @param {AuditFilter} filter
 * @returns {Promise<Blob>} */
export async function auditExport(filter) {
  const path = `/v1/admin/audit/export${query({ ...filter })}`;
  const token = session.token;
  let res;
  try {
    // No timeout: a long log streams for as long as it takes.
    res = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (res.ok) return await res.blob();
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  throw errorAnswer(res.status, await res.text().catch(() => ''), res.headers.get('Retry-After'), token);
}

/** An invitation of the organization as its administrators see it: who made it (`created_by`), its uses so
 * far, never its token.
 * @typedef {{id: string, org: string, created_by: string, created_at: string, expires_at: string,
 *   max_uses: number, uses: number}} OrgInvite */

/** Every invitation of the organization, whoever made it, newest first (at most 100).
 * @returns {Promise<OrgInvite[]>} */
export const orgInvites = () => api('GET', '/v1/invites?all=true').then((answer) => answer.invites);

/** Withdraws an invitation: its link no longer signs anyone up. An administrator may withdraw any of the
 * organization's.
 * @param {string} inviteId */
export const withdrawInvite = (inviteId) => api('DELETE', `/v1/invites/${inviteId}`);

// --- moderating a channel (its owners and moderators, and the organization's administrators) --------------

/** A member's role in a channel. @typedef {{user_id: string, role: import('/state.js').ChannelRole}} MemberRole */

/** What a moderator changes of a channel: any of its name, topic (empty clears it) and privacy.
 * @typedef {{name?: string, topic?: string, private?: boolean}} ChannelPatch */

/** Renames a channel, changes its topic or its privacy; every member's devices get `conversation.updated`.
 * @param {string} conversationId
 * @param {ChannelPatch} patch
 * @returns {Promise<import('/state.js').Conversation>} */
export const updateChannel = (conversationId, patch) => api('PATCH', `/v1/conversations/${conversationId}`, patch);

/** Archives a channel (read-only, out of the directory), or brings it back.
 * @param {string} conversationId
 * @param {boolean} archived
 * @returns {Promise<import('/state.js').Conversation>} */
export const setArchived = (conversationId, archived) =>
  api('POST', `/v1/conversations/${conversationId}/${archived ? 'archive' : 'unarchive'}`);

/** A channel's owners and moderators (everyone else in it is a plain member).
 * @param {string} conversationId
 * @returns {Promise<MemberRole[]>} */
export const channelRoles = (conversationId) => api('GET', `/v1/conversations/${conversationId}/roles`).then((answer) => answer.roles);

/** @param {string} conversationId
 * @param {string} userId
 * @param {import('/state.js').ChannelRole} role
 * @returns {Promise<MemberRole>} */
export const setChannelRole = (conversationId, userId, role) =>
  api('PUT', `/v1/conversations/${conversationId}/members/${userId}/role`, { role });

/** Removes a member from a channel; they, and every member, get `member.left` with `removed: true`.
 * @param {string} conversationId
 * @param {string} userId
 * @returns {Promise<null>} */
export const removeMember = (conversationId, userId) => api('DELETE', `/v1/conversations/${conversationId}/members/${userId}`);

// --- the organization's settings (read by any member, changed by owners and administrators) ---------------

/** Who may sign up without an invitation: anyone, nobody, or people whose email is at one of `email_domains`.
 * @typedef {'open' | 'invite_only' | 'email_domains'} SignupPolicy */

/** How an organization runs: who signs up without an invitation, the public channels every new member joins,
 * who may create channels and make invitations (`everyone` but guests, or `admins`), who may use
 * `@channel` and `@here` (`everyone`, or a channel's `moderators`), how many days messages are kept
 * (`retention_days`, 0 for ever), and whether a channel's owners may give it a retention of its own
 * (`channel_retention`).
 * @typedef {{signup: SignupPolicy, email_domains: string[], default_channels: string[],
 *   channel_creation: 'everyone' | 'admins', invitations: 'everyone' | 'admins',
 *   channel_mentions: 'everyone' | 'moderators', retention_days: number, channel_retention: boolean}} OrgSettings */

/** @returns {Promise<OrgSettings>} */
export const orgSettings = () => api('GET', '/v1/org/settings');

/** Changes the settings given (400 `invalid_domain`, `invalid_channel`, `too_many_domains`,
 * `too_many_channels`, `invalid_retention`; 403 `not_admin`).
 * @param {Partial<OrgSettings>} patch
 * @returns {Promise<OrgSettings>} */
export const saveOrgSettings = (patch) => api('PATCH', '/v1/org/settings', patch);

/** The organization's public channels, the most popular first (at most 100).
 * @returns {Promise<import('/state.js').Conversation[]>} */
export const publicChannels = () => api('GET', '/v1/channels?q=').then((answer) => answer.conversations);

// --- retention (how long messages are kept, and the purge that deletes older ones) ---------------------------

/** One run of the purge job: when it started and ended (`finished_at` absent while it runs, or if the server
 * running it stopped first), the messages and files it deleted, in how many conversations.
 * @typedef {{started_at: string, finished_at?: string | null, messages_removed: number, files_removed: number,
 *   conversations: number}} PurgeRun */

/** The organization's retention (`retention_days`, 0 for ever), whether channels may have their own, how many
 * do, and the purge job's last run there.
 * @typedef {{retention_days: number, channel_retention: boolean, channels_with_own_retention: number,
 *   last_run?: PurgeRun | null}} RetentionStatus */

/** Owners and administrators (403 `not_admin`).
 * @returns {Promise<RetentionStatus>} */
export const retentionStatus = () => api('GET', '/v1/admin/retention');

/** Starts a purge now; answers at once with the status, the run under way (409 `purge_running`).
 * @returns {Promise<RetentionStatus>} */
export const runPurge = () => api('POST', '/v1/admin/retention/run');

/** Gives a channel its own retention in days (0 for ever), or, with null, makes it follow the organization's
 * again. Its owners and the organization's administrators, while the organization allows it (403
 * `channel_retention_off`, `not_moderator`; 400 `invalid_retention`); every member gets `conversation.updated`.
 * @param {string} conversationId
 * @param {number | null} days
 * @returns {Promise<import('/state.js').Conversation>} */
export const setChannelRetention = (conversationId, days) =>
  api('PUT', `/v1/conversations/${conversationId}/retention`, { retention_days: days });

// --- single sign-on (OpenID Connect) -------------------------------------------------------------------------

/** What the log-in page needs to offer an organization's single sign-on (`GET /v1/auth/sso`): the
 * organization's handle, the name its button shows ("Sign in with {display_name}"), and whether its members
 * must sign in this way (password login refused, owners excepted).
 * @typedef {{org: string, display_name: string, required: boolean}} SsoProvider */

/** An organization's single sign-on as its administrators see it (the client secret is never shown):
 * the provider's issuer URL, the client registered there, the button's name, whether a first sign-in takes
 * over the account with the same verified email (`link_by_email`), whether members must sign in this way, and
 * the redirect URI to register at the provider.
 * @typedef {{issuer: string, client_id: string, display_name: string, link_by_email: boolean, required: boolean,
 *   redirect_uri: string}} SsoSettings */

/** What an administrator sets: `client_secret` absent keeps the stored one (needed the first time).
 * @typedef {{issuer: string, client_id: string, client_secret?: string, display_name: string,
 *   link_by_email: boolean, required: boolean}} SsoSettingsUpdate */

/** The organization's single sign-on, or null when it has none (404 `sso_not_configured`); owners and
 * administrators.
 * @returns {Promise<SsoSettings | null>} */
export async function ssoSettings() {
  try {
    return await api('GET', '/v1/admin/sso');
  } catch (e) {
    if (e.code === 'sso_not_configured') return null;
    throw e;
  }
}

/** Sets it up or changes it; the server reads the issuer's discovery document first (422
 * `sso_discovery_failed`; 400 `invalid_sso_settings`).
 * @param {SsoSettingsUpdate} settings
 * @returns {Promise<SsoSettings>} */
export const saveSsoSettings = (settings) => api('PUT', '/v1/admin/sso', settings);

/** Removes it (404 `sso_not_configured` when there was none).
 * @returns {Promise<null>} */
export const removeSso = () => api('DELETE', '/v1/admin/sso');
