// "Sessions" in Settings: the browsers and devices the user is logged in on (`GET /v1/users/me/sessions`), each
// with what it said it was, when it was last used and, for this one, "This device"; "Sign out" ends another
// one (`DELETE /v1/users/me/sessions/{id}`), whose socket then closes with 4003 and which shows the log-in
// screen. This device leaves with "Log out". Imported when Settings opens (settings.js), not on the first load.
import { endSession, listSessions } from '/api.js';
import { state, subscribe } from '/state.js';
import { $, h, isBusy, setBusy, shortTime } from '/ui.js';

/** @typedef {import('/api.js').SessionInfo} SessionInfo */

/** Browsers and systems as a User-Agent names them, the first match winning (Edge and Opera also say
 * Chrome, Chrome also says Safari, Android also says Linux). */
const BROWSERS = /** @type {[RegExp, string][]} */ ([
  [/\bEdg(e|A|iOS)?\//, 'Edge'], [/\bOPR\//, 'Opera'], [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/Chrome\/|\bCriOS\//, 'Chrome'], [/\bSafari\//, 'Safari'],
]);
const SYSTEMS = /** @type {[RegExp, string][]} */ ([
  [/\bAndroid\b/, 'Android'], [/\biPhone|\biPad|\biPod/, 'iOS'], [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'], [/\bCrOS\b/, 'ChromeOS'], [/\bLinux\b/, 'Linux'],
]);

/** What a session's device says it is, as people say it ("Firefox on Windows"), or its own words when they
 * name no browser or system we know, or "Unknown device" when it said nothing.
 * @param {string | null | undefined} device its User-Agent
 * @returns {string} */
function deviceName(device) {
  const text = (device ?? '').trim();
  if (!text) return 'Unknown device';
  const browser = BROWSERS.find(([pattern]) => pattern.test(text))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(text))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser || system || text;
}

/** Reads the user's sessions and lists them. */
export async function showSessions() {
  const s = state;
  const status = $('#session-status');
  status.textContent = '';
  try {
    const sessions = await listSessions();
    if (state !== s) return;
    render(sessions);
  } catch (err) {
    if (state === s && err.status !== 401) status.textContent = `Could not read your sessions: ${err.message}`;
  }
}

/** @param {SessionInfo[]} sessions */
function render(sessions) {
  const list = $('#session-list');
  // This device first, then the most recently used.
  const sorted = [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || b.last_used_at.localeCompare(a.last_used_at));
  const focused = list.contains(document.activeElement) ? document.activeElement.closest('li')?.dataset.sessionId : null;
  list.replaceChildren(...sorted.map(item));
  if (focused) /** @type {HTMLElement | null} */ (list.querySelector(`li[data-session-id="${focused}"] button`))?.focus();
}

/** @param {SessionInfo} session */
function item(session) {
  const info = `session-info-${session.id}`;
  let signOut = null;
  if (!session.current) {
    signOut = h('button', { type: 'button', class: 'session-end', 'aria-describedby': info }, 'Sign out');
    signOut.addEventListener('click', () => end(session, signOut));
  }
  return h('li', { class: 'session-item', dataset: { sessionId: session.id } },
    h('span', { class: 'session-info', id: info },
      h('span', { class: 'session-device' }, deviceName(session.device)),
      session.current ? [' ', h('span', { class: 'session-this' }, 'This device')] : null,
      ' ',
      h('span', { class: 'hint session-when' },
        `Last used ${shortTime(session.last_used_at)}, logged in ${shortTime(session.created_at)}`)),
    signOut);
}

/** "Sign out" on another session: it ends, and leaves the list; the focus moves to the next session's button
 * (or "Log out everywhere"), not to the page.
 * @param {SessionInfo} session
 * @param {HTMLElement} button */
async function end(session, button) {
  const s = state;
  const status = $('#session-status');
  if (isBusy(button)) return;
  setBusy(button, true);
  status.textContent = '';
  try {
    await endSession(session.id);
  } catch (err) {
    setBusy(button, false);
    // 404: it ended already (logged out there, or expired); anything else is worth saying.
    if (err.status !== 404) {
      if (state === s && err.status !== 401) status.textContent = `Could not sign it out: ${err.message}`;
      return;
    }
  }
  if (state !== s || !button.isConnected) return;
  const li = button.closest('li');
  const next = /** @type {HTMLElement | null} */ ([li.nextElementSibling, li.previousElementSibling]
    .map((sibling) => sibling?.querySelector('button')).find((b) => b));
  li.remove();
  (next ?? $('#logout-all')).focus();
  status.textContent = `Signed out ${deviceName(session.device)}.`;
}

// The password changed here: every other session ended, so the list is read again.
subscribe('sessions', () => {
  if (state && !$('#settings-panel').hidden) showSessions();
});
