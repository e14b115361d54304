// The service worker: shows the notifications the server pushes, and opens the conversation of the one
// clicked. It is a classic script at `/sw.js`, so its scope is the whole app (`/`), and it is not on the first
// load's path: app-worker.js registers it once the page has started. It has no `fetch` handler: the page
// loads from the network as it would without it.
//
// A push carries JSON (docs/web-client.md, "Notifications"): `message` shows or replaces the conversation's
// notification (one per conversation: its `tag`), `clear` closes it once the conversation was read
// elsewhere. Both carry `badge`, the number the app's icon shows. A notification's title and body are text:
// nothing in a push is ever parsed as HTML. Its types are checked against the worker's library
// (e2e/tsconfig.sw.json), not the page's.

const worker = /** @type {ServiceWorkerGlobalScope & typeof globalThis} */ (/** @type {unknown} */ (self));

/**
 * What the server pushes (decrypted by the browser). `text` is the message's start, null when the
 * organization keeps previews out of notifications; `count`: how many messages this notification stands for.
 * @typedef {{v: 1, type: 'message', id: string, tag: string, conversation_id: string, message_id: string,
 *   conversation_name: string | null, conversation_kind: 'dm' | 'group' | 'channel',
 *   sender: {id: string, name: string}, text: string | null, count: number, badge: number}} MessagePush
 * @typedef {{v: 1, type: 'clear', id: string, tag: string, conversation_id: string, badge: number}} ClearPush
 */

/** What a notification keeps for its click: where it leads.
 * @typedef {{conversation_id: string, message_id: string}} NotificationTarget */

const ICON = '/icons/icon-192.png';

worker.addEventListener('install', () => worker.skipWaiting());
// A new version takes over the open pages at once, so a notification's click reaches the current code.
worker.addEventListener('activate', (event) => event.waitUntil(worker.clients.claim()));

worker.addEventListener('push', (event) => {
  let push = null;
  try {
    push = event.data?.json();
  } catch {
    /* not JSON: shown as news below */
  }
  event.waitUntil(receive(push));
});

/** Shows or closes what one push says, and sets the badge. Anything but a `clear` shows a notification: a
 * push that shows none may be answered by the browser with a notice of its own, or cost the subscription.
 * @param {any} push */
async function receive(push) {
  if (push?.type === 'clear' && typeof push.tag === 'string') {
    for (const shown of await worker.registration.getNotifications({ tag: push.tag })) shown.close();
  } else if (push?.type === 'message' && typeof push.tag === 'string') {
    await showMessage(push);
  } else {
    await worker.registration.showNotification('Parley', { body: 'New activity', icon: ICON });
  }
  await setBadge(push?.badge);
}

/** @param {MessagePush} push */
function showMessage(push) {
  const sender = push.sender?.name || 'Someone';
  const count = Number(push.count) > 1 ? Number(push.count) : 1;
  const many = `${count} new messages`;
  let body;
  if (typeof push.text !== 'string') body = count > 1 ? many : 'New message';
  else {
    // A DM's title names the sender already.
    const line = push.conversation_kind === 'dm' ? push.text : `${sender}: ${push.text}`;
    body = count > 1 ? `${line}\n${many}` : line;
  }
  /** @type {NotificationTarget} */
  const data = { conversation_id: String(push.conversation_id), message_id: String(push.message_id) };
  // The same tag replaces the notification; `renotify` (which TypeScript's library does not list) makes a
  // newer burst sound and show again.
  const options = /** @type {NotificationOptions} */ ({ body, tag: push.tag, renotify: true, dir: 'auto', icon: ICON, data });
  return worker.registration.showNotification(push.conversation_name || sender, options);
}

/** The app icon's number: unread notifications across conversations (0 clears it), where the browser has a
 * badge. @param {unknown} badge */
async function setBadge(badge) {
  const nav = worker.navigator;
  if (typeof badge !== 'number' || !('setAppBadge' in nav)) return;
  try {
    await (badge > 0 ? nav.setAppBadge(badge) : nav.clearAppBadge());
  } catch {
    /* not allowed here (no installed app): the notification says it anyway */
  }
}

worker.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(open(event.notification.data));
});

/**
 * Opens the conversation a notification leads to: an open window of the app is told to (app-worker.js
 * listens) and focused; with none, a new one opens at the message's link (`/#/c/ID/m/ID`, as permalink.js
 * reads it on load).
 * @param {NotificationTarget | null} target
 */
async function open(target) {
  const valid = /^\d+$/.test(target?.conversation_id ?? '') && /^\d+$/.test(target?.message_id ?? '');
  const windows = await worker.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const page = windows.find((w) => w.focused) || windows[0];
  if (page) {
    // Told first, then focused: the page opens the conversation even where focusing is not allowed.
    if (valid) page.postMessage({ type: 'open-conversation', conversation_id: target.conversation_id, message_id: target.message_id });
    await page.focus().catch(() => {});
    return;
  }
  await worker.clients.openWindow(valid ? `/#/c/${target.conversation_id}/m/${target.message_id}` : '/');
}
