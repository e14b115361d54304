// "Notify me on this device" (Settings): this browser's Web Push subscription. Turning it on asks the browser
// for permission to notify (only then: never on load), subscribes with the server's VAPID key and gives the
// server the subscription; turning it off deletes it on the server and unsubscribes. It shows on when the
// browser holds a subscription that the server has. Imported when Settings opens (settings.js), not on the
// first load.
import { addPushSubscription, pushTargets, removePushTarget, vapidKey } from '/api.js';
import { workerRegistration } from '/app-worker.js';
import { state } from '/state.js';
import { $, isBusy, setBusy } from '/ui.js';

/** How long the browser's push service may take to subscribe, in ms: it may never answer. */
const SUBSCRIBE_TIMEOUT = 20000;

const BLOCKED = 'Notifications are blocked for this site in this browser. Allow them in its site settings, then turn this on again.';

/** A reason to give up that is already a sentence for people. */
class Refusal extends Error {}

/** The switches wired already (each login mounts a new one). */
const wired = /** @type {WeakSet<Element>} */ (new WeakSet());

/** Shows whether notifications are on for this device, and wires the switch once. */
export async function showPushSwitch() {
  const s = state;
  const input = /** @type {HTMLInputElement} */ ($('#push-switch'));
  const status = $('#push-status');
  if (!supported()) {
    input.disabled = true;
    status.textContent = 'This browser cannot show notifications from Parley.';
    return;
  }
  if (!wired.has(input)) {
    wired.add(input);
    input.addEventListener('change', () => toggle(input, status));
  }
  if (isBusy(input)) return;
  const on = await isOn().catch(() => false);
  if (state !== s || isBusy(input)) return;
  input.checked = on;
  if (!on && Notification.permission === 'denied') status.textContent = BLOCKED;
}

const supported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

/** Whether this browser is subscribed, and the server has the subscription. */
async function isOn() {
  if (Notification.permission !== 'granted') return false;
  const registration = await workerRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  if (!subscription) return false;
  return (await pushTargets()).some((t) => t.endpoint === subscription.endpoint);
}

/** The switch was flipped: turns notifications on or off, and shows how it went.
 * @param {HTMLInputElement} input
 * @param {Element} status */
async function toggle(input, status) {
  const s = state;
  const wanted = input.checked;
  if (isBusy(input)) {
    input.checked = !wanted; // one change at a time
    return;
  }
  setBusy(input, true);
  status.textContent = wanted ? 'Turning notifications on…' : 'Turning notifications off…';
  try {
    await (wanted ? turnOn() : turnOff());
    if (state === s) status.textContent = wanted ? 'Notifications are on for this device.' : 'Notifications are off for this device.';
  } catch (err) {
    if (state !== s) return;
    input.checked = !wanted;
    status.textContent = err instanceof Refusal ? err.message : `Could not turn notifications ${wanted ? 'on' : 'off'}: ${err.message}`;
  } finally {
    setBusy(input, false);
  }
}

async function turnOn() {
  // The browser asks the person here, in answer to their click; never before.
  const permission = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
  if (permission === 'denied') throw new Refusal(BLOCKED);
  if (permission !== 'granted') throw new Refusal('Notifications were not allowed. Turn this on again to be asked once more.');
  const registration = (await workerRegistration()) && (await navigator.serviceWorker.ready);
  if (!registration) throw new Refusal('This browser cannot show notifications from Parley here.');
  let key;
  try {
    key = base64UrlBytes(await vapidKey());
  } catch (err) {
    if (err.status === 404) throw new Refusal('This server does not send notifications.');
    throw err;
  }
  let subscription = await registration.pushManager.getSubscription();
  // A subscription made for another key (the server's changed) cannot be used: it is replaced.
  if (subscription && !sameBytes(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await subscribe(registration, key);
  await addPushSubscription(subscription);
}

/** @param {ServiceWorkerRegistration} registration
 * @param {Uint8Array<ArrayBuffer>} key */
async function subscribe(registration, key) {
  let timer = 0;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Refusal('The browser\'s push service did not answer. Try again later.')), SUBSCRIBE_TIMEOUT);
  });
  try {
    return await Promise.race([registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }), timeout]);
  } catch (err) {
    if (err instanceof Refusal) throw err;
    // Chromium refuses in private windows and where it has no push service, whatever the permission says.
    throw new Refusal(`The browser could not subscribe this device to notifications (${err.message}).`);
  } finally {
    clearTimeout(timer);
  }
}

async function turnOff() {
  const registration = await workerRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  if (!subscription) return;
  const target = (await pushTargets()).find((t) => t.endpoint === subscription.endpoint);
  if (target) await removePushTarget(target.id);
  await subscription.unsubscribe();
}

/** @param {string} text base64url, padded or not
 * @returns {Uint8Array<ArrayBuffer>} */
function base64UrlBytes(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** @param {ArrayBuffer | null} buffer
 * @param {Uint8Array} bytes */
function sameBytes(buffer, bytes) {
  if (!buffer || buffer.byteLength !== bytes.length) return false;
  const mine = new Uint8Array(buffer);
  return mine.every((b, i) => b === bytes[i]);
}
