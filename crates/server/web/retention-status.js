// The retention's status, under Administration's "Organization settings" (`GET /v1/admin/retention`): the
// organization's policy in words, how many channels keep messages for a time of their own, and the purge
// job's last run (when it started, when it finished or that it is running, the messages and files it deleted,
// in how many conversations). "Purge now" starts a run at once (`POST /v1/admin/retention/run`); while a run
// is shown unfinished, the status is read again every second, for as long as the tab shows. What the server
// refuses (`purge_running`, a rate limit) is said in the block's alert, in its words. Imported with
// org-settings.js, which shows it.
import { retentionStatus, runPurge } from '/api.js';
import { state } from '/state.js';
import { fmtNumber, h, isBusy, setBusy } from '/ui.js';
import { refreshMe } from '/users.js';

/** @typedef {import('/api.js').RetentionStatus} RetentionStatus */
/** @typedef {import('/api.js').PurgeRun} PurgeRun */

/** How often an unfinished run is read again, and for how long at most: a run whose server stopped before it
 * ended never finishes, and its status is not worth a request a second for ever. */
const POLL_EVERY = 1000;
const POLL_FOR = 10 * 60 * 1000;

const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** What the block shows, while it shows: its box, the parts read again, and whether it follows a run to its
 * end (one it started, or found unfinished), to say when it finished. A block shown anew replaces it: the
 * older one's answers and polling are dropped. */
let shown = /** @type {{box: HTMLElement, policy: HTMLElement, channels: HTMLElement, run: HTMLElement,
 *   alert: HTMLElement, status: HTMLElement, following: boolean} | null} */ (null);

/** A count and its noun, in the singular for one: "1 message", "12 messages".
 * @param {number} n
 * @param {string} one
 * @param {string} many */
const count = (n, one, many) => `${fmtNumber(n)} ${n === 1 ? one : many}`;

/** A time of the server's as a `<time>`, down to the second.
 * @param {string} iso */
function timeNode(iso) {
  const d = new Date(iso);
  return h('time', { datetime: iso }, Number.isNaN(d.getTime()) ? iso : timeFmt.format(d));
}

/** Fills `box` (a section, labelled by the heading this puts in it) with the status, read afresh.
 * @param {HTMLElement} box */
export function showRetentionStatus(box) {
  const view = {
    box,
    policy: h('p', {}, 'Loading the retention…'),
    channels: h('p', {}),
    run: h('div', { class: 'purge-run' }),
    alert: h('p', { id: 'retention-status-error', class: 'form-error', role: 'alert' }),
    status: h('p', { class: 'hint', role: 'status' }),
    following: false,
  };
  shown = view;
  const purge = h('button', { type: 'button', 'aria-describedby': 'purge-now-hint retention-status-error' }, 'Purge now');
  box.replaceChildren(
    h('h3', { id: 'retention-status-title', class: 'retention-status-title' }, 'Retention status'),
    view.policy,
    view.channels,
    view.run,
    h('p', { class: 'form-buttons' }, purge),
    h('p', { id: 'purge-now-hint', class: 'hint' }, 'Deletes at once the messages older than their retention, as the hourly purge does.'),
    view.alert,
    view.status);
  purge.addEventListener('click', () => startPurge(view, purge));
  load(view, Date.now());
}

/** Whether `view` is still the block on screen, in a tab that shows.
 * @param {NonNullable<typeof shown>} view */
const showing = (view) => shown === view && view.box.isConnected && !view.box.closest('[hidden]');

/** Reads the status and shows it; while the run it shows is unfinished, reads it again in a second (until
 * `POLL_FOR` after `since`).
 * @param {NonNullable<typeof shown>} view
 * @param {number} since */
async function load(view, since) {
  const s = state;
  try {
    const answer = await retentionStatus();
    if (state !== s || shown !== view) return;
    render(view, answer);
    poll(view, answer, since);
  } catch (err) {
    if (state !== s || shown !== view || err.status === 401) return;
    if (err.code === 'not_admin') refreshMe();
    view.alert.textContent = `Could not read the retention's status: ${err.message}`;
  }
}

/** Reads the status again in a second if its run is unfinished and the block still shows.
 * @param {NonNullable<typeof shown>} view
 * @param {RetentionStatus} answer
 * @param {number} since */
function poll(view, answer, since) {
  if (!answer.last_run || answer.last_run.finished_at) return;
  if (Date.now() - since > POLL_FOR) {
    view.status.textContent = 'The purge has not finished yet. Choose the tab again to see how it went.';
    return;
  }
  setTimeout(() => {
    if (showing(view)) load(view, since);
  }, POLL_EVERY);
}

/** "Purge now": starts a run, shows it, and follows it until it finishes.
 * @param {NonNullable<typeof shown>} view
 * @param {HTMLElement} button */
async function startPurge(view, button) {
  if (isBusy(button)) return;
  const s = state;
  view.alert.textContent = '';
  view.status.textContent = '';
  setBusy(button, true);
  try {
    const answer = await runPurge();
    if (state !== s || shown !== view) return;
    view.status.textContent = 'Purging…';
    view.following = true;
    render(view, answer);
    poll(view, answer, Date.now());
  } catch (err) {
    if (state !== s || shown !== view || err.status === 401) return;
    if (err.code === 'not_admin') refreshMe();
    view.alert.textContent = `Not started: ${err.message}`;
  } finally {
    setBusy(button, false);
  }
}

/** Shows `answer`: the policy, the channels with their own, and the last run.
 * @param {NonNullable<typeof shown>} view
 * @param {RetentionStatus} answer */
function render(view, answer) {
  view.policy.textContent = answer.retention_days
    ? `Messages older than ${count(answer.retention_days, 'day', 'days')} are deleted.`
    : 'Messages are kept for ever.';
  view.channels.textContent = answer.channel_retention
    ? `Channel owners may set their own retention: ${count(answer.channels_with_own_retention, 'channel has', 'channels have')} one.`
    : 'Every channel follows this policy: channel owners may not set their own.';
  const run = answer.last_run;
  if (!run) {
    view.run.replaceChildren(h('p', {}, 'No purge has run yet.'));
    return;
  }
  /** @type {[string, Node | string][]} */
  const rows = [
    ['Started', timeNode(run.started_at)],
    ['Finished', run.finished_at ? timeNode(run.finished_at) : 'Not yet: running'],
    ['Messages removed', fmtNumber(run.messages_removed)],
    ['Files removed', fmtNumber(run.files_removed)],
    ['Conversations', fmtNumber(run.conversations)],
  ];
  view.run.replaceChildren(
    h('h4', { class: 'purge-run-title' }, 'Last purge'),
    h('dl', {}, ...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])));
  // The end of a run this block followed is said once, in the status (read out by screen readers).
  if (!run.finished_at) view.following = true;
  else if (view.following) {
    view.following = false;
    view.status.textContent = `The purge finished: ${count(run.messages_removed, 'message', 'messages')} and ${count(run.files_removed, 'file', 'files')} removed, in ${count(run.conversations, 'conversation', 'conversations')}.`;
  }
}
