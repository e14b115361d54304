// Settings: the user's avatar and name, notifications, sessions and "Log out everywhere" (asked first), and
// the password. An avatar is uploaded as any file is (upload.js, with its progress), then made the avatar
// (`PUT /v1/users/me/avatar` with its id). The notification settings, the sessions and the password form are
// modules of their own (push-switch.js, quiet-hours.js, sessions-settings.js, password-form.js), imported the
// first time Settings opens: they are not on the first load's path.
import { api } from '/api.js';
import { avatar } from '/avatars.js';
import { closeConversation } from '/conversation.js';
import { state, subscribe } from '/state.js';
import { $, isBusy, NARROW, setBusy } from '/ui.js';
import { FileUpload } from '/upload.js';
import { updateUser } from '/users.js';

const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];
/** The largest avatar the server takes. */
const MAX_AVATAR_BYTES = 5 * 1024 * 1024;

/**
 * Wires the settings of a freshly mounted main screen. `onLogoutEverywhere(button, alert)` runs once "Yes,
 * log out everywhere" is pressed; it says in `alert` why, if it fails.
 * @param {{onLogoutEverywhere: (button: HTMLElement, alert: Element) => void}} options
 */
export function setupSettings({ onLogoutEverywhere }) {
  const s = state;
  const button = $('#settings');
  const panel = $('#settings-panel');
  const input = /** @type {HTMLInputElement} */ ($('#avatar-input'));
  const status = $('#avatar-status');
  const progress = /** @type {HTMLProgressElement} */ ($('#avatar-progress'));
  // "Log out everywhere" asks first; the focus goes to "Cancel", the choice that changes nothing.
  const everywhere = $('#logout-all');
  const confirm = $('#logout-all-confirm');
  const confirmAlert = confirm.querySelector('[role="alert"]');
  const ask = (/** @type {boolean} */ open) => {
    confirm.hidden = !open;
    everywhere.setAttribute('aria-expanded', String(open));
    confirmAlert.textContent = '';
  };
  const show = (/** @type {boolean} */ open) => {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    ask(false);
    if (open) {
      if (s.open && NARROW.matches) closeConversation();
      showOwnAvatar();
      showNotificationSettings();
      showAccountSettings();
      input.focus();
    } else {
      passwordModule().then((m) => m.clearPasswordForm(), () => {});
    }
  };
  // The browser must never submit the password form itself (a GET, with the passwords in the address): its
  // module may still be loading when it is first submitted.
  const passwordForm = /** @type {HTMLFormElement} */ ($('#password-form'));
  passwordForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    passwordModule().then((m) => m.submitPassword(passwordForm), () => ($('#password-error').textContent = 'Could not load this form. Try again.'));
  });
  button.addEventListener('click', () => show(panel.hidden));
  const nameForm = /** @type {HTMLFormElement} */ ($('#name-form'));
  const nameField = /** @type {HTMLInputElement} */ (nameForm.elements.namedItem('name'));
  const nameStatus = $('#name-status');
  nameField.value = s.me.name;
  nameForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const save = nameForm.querySelector('button[type="submit"]');
    const name = nameField.value.trim();
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
  $('#logout-all-yes').addEventListener('click', (ev) => onLogoutEverywhere(/** @type {HTMLElement} */ (ev.currentTarget), confirmAlert));
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    if (!file || isBusy(input)) return;
    if (!AVATAR_TYPES.includes(file.type)) {
      status.textContent = 'Choose a PNG, JPEG, WebP or GIF image.';
      return;
    }
    if (file.size > MAX_AVATAR_BYTES) {
      status.textContent = 'Choose an image of at most 5 MB.';
      return;
    }
    status.textContent = 'Uploading…';
    setBusy(input, true);
    progress.value = 0;
    progress.hidden = false;
    const upload = new FileUpload(file, (fraction) => (progress.value = fraction));
    try {
      const { id } = await upload.done;
      const me = await api('PUT', '/v1/users/me/avatar', { upload_id: id });
      if (state !== s) return;
      updateUser(me);
      status.textContent = 'Avatar updated.';
    } catch (err) {
      upload.cancel(); // a complete upload the server would not take as an avatar: deleted, not left for a day
      if (state === s) status.textContent = `Could not upload: ${err.message}`;
    } finally {
      progress.hidden = true;
      setBusy(input, false);
      input.value = '';
    }
  });
}

/** "Notify me on this device" and quiet hours, as they stand now. */
function showNotificationSettings() {
  const failed = (/** @type {string} */ id) => () => ($(id).textContent = 'Could not load this setting. Open Settings again to retry.');
  import('/push-switch.js').then((m) => m.showPushSwitch(), failed('#push-status'));
  import('/quiet-hours.js').then((m) => m.showQuietHours(), failed('#quiet-status'));
}

/** The password form's module (imported when Settings opens, so that it is there by the first submit). */
const passwordModule = () => import('/password-form.js');

/** The sessions, read afresh, and the password form's module, loaded. */
function showAccountSettings() {
  import('/sessions-settings.js').then((m) => m.showSessions(), () => ($('#session-status').textContent = 'Could not load your sessions. Open Settings again to retry.'));
  passwordModule().catch(() => {});
}

function showOwnAvatar() {
  $('#settings-avatar').replaceWith(Object.assign(avatar(state.me, 'avatar-lg'), { id: 'settings-avatar' }));
}

subscribe('user', (user) => {
  if (user.id === state?.me.id && !$('#settings-panel').hidden) showOwnAvatar();
});
