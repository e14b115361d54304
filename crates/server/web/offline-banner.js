// The banner under the top bar (`#offline`, a status region) that says the socket is down, and why.
import { state } from '/state.js';
import { $ } from '/ui.js';

/** Why the socket is down, by its close code; anything else reads as being offline. The login is kept in
 * every case: realtime.js ends it only on 4001 and 4003. */
const DISCONNECTED = {
  1013: 'The server is unavailable for a moment. Reconnecting…',
  4005: 'Too many of your tabs and devices are connected. Close one; reconnecting…',
  4006: 'Your role changed. Reconnecting…',
};

/** Shows the connection's state: nothing while it is up, else why it is down.
 * @param {boolean} up
 * @param {number} [code] the close code */
export function showConnection(up, code) {
  const s = state;
  if (!s) return;
  const text = up ? '' : DISCONNECTED[code] ?? 'Offline. Reconnecting…';
  if (s.connected === up && $('#offline').textContent === text) return;
  s.connected = up;
  $('#offline').textContent = text;
  $('#shell').classList.toggle('is-offline', !up);
}
