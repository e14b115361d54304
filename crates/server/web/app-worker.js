// The page's side of the service worker (sw.js): registering it, and opening the conversation of a clicked
// notification, which the worker asks of an open page with a message. The conversation opens through its
// message link (`#/c/ID/m/ID`): permalink.js follows it, at once or once the list has been read. Nothing here
// asks the browser for a permission: notifications are turned on in Settings (push-switch.js).

const ID = /^\d+$/;

/** @type {Promise<ServiceWorkerRegistration | null> | null} */
let registering = null;

/** The worker's registration (registered on the first call); null where the browser has no service workers
 * (an address that is not https nor localhost), or the registration failed (asked again next time).
 * @returns {Promise<ServiceWorkerRegistration | null>} */
export function workerRegistration() {
  if (!('serviceWorker' in navigator)) return Promise.resolve(null);
  registering ??= navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    registering = null;
    return null;
  });
  return registering;
}

/** Registers the worker and follows what it asks. */
export function setupWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (ev) => {
    const ask = ev.data;
    if (ask?.type !== 'open-conversation' || !ID.test(ask.conversation_id) || !ID.test(ask.message_id)) return;
    location.hash = `#/c/${ask.conversation_id}/m/${ask.message_id}`;
  });
  // Messages wait in a queue until the page says it listens.
  navigator.serviceWorker.startMessages();
  workerRegistration();
}
