// Channel settings' first part: the channel's name, topic and privacy, saved together
// (`PATCH /v1/conversations/{id}` with what changed), and "Archive channel" (asked first) or "Unarchive channel"
// (`POST .../archive`, `.../unarchive`). What the server refuses is said in the form's alert, in its words. A
// change made elsewhere (`conversation.updated`) shows here too, except in a field the user has changed and
// not saved. Imported the first time the panel opens (channel-settings.js).
import { setArchived, updateChannel } from '/api.js';
import { updateConversation } from '/conversations.js';
import { confirmDialog } from '/dialog.js';
import { state, subscribe } from '/state.js';
import { h, isBusy, setBusy } from '/ui.js';

/** @typedef {import('/state.js').Conversation} Conversation */

/** What the form shows, while it shows: the box it is in, the channel, and its fields as last filled from the
 * channel (a field that still says that is not being changed). */
let shown = /** @type {{box: HTMLElement, conversationId: string, filled: {name: string, topic: string,
 *   private: boolean, archived: boolean}, fields: {name: HTMLInputElement, topic: HTMLTextAreaElement,
 *   private: HTMLInputElement}} | null} */ (null);

/** Fills `box` with the form for channel `conversationId`.
 * @param {HTMLElement} box
 * @param {string} conversationId */
export function showChannelForm(box, conversationId) {
  const e = state.conversations.get(conversationId);
  if (!e) return;
  render(box, e.conv, 'first');
}

/** Shows the form for `conv`. The first time, the focus goes to its first field (or, archived, to
 * "Unarchive channel"); shown anew, it stays on the control that had it.
 * @param {HTMLElement} box
 * @param {Conversation} conv
 * @param {'first' | 'again'} [when] */
function render(box, conv, when = 'again') {
  const s = state;
  const archived = !!conv.archived;
  const filled = { name: conv.name || '', topic: conv.topic || '', private: !!conv.private, archived };
  const name = /** @type {HTMLInputElement} */ (h('input', { id: 'channel-name', name: 'name', required: true, maxlength: 100, autocomplete: 'off', dataset: { key: 'name' } }));
  const topic = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'channel-topic', name: 'topic', rows: 2, maxlength: 500, 'aria-describedby': 'channel-topic-hint', dataset: { key: 'topic' } }));
  const priv = /** @type {HTMLInputElement} */ (h('input', { id: 'channel-private', name: 'private', type: 'checkbox', 'aria-describedby': 'channel-private-hint', dataset: { key: 'private' } }));
  name.value = filled.name;
  topic.value = filled.topic;
  priv.checked = filled.private;
  const alert = h('p', { id: 'channel-settings-error', class: 'form-error', role: 'alert' });
  const status = h('p', { class: 'hint', role: 'status' });
  const save = h('button', { type: 'submit', class: 'primary', dataset: { key: 'save' } }, 'Save');
  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'channel-form-settings', 'aria-label': 'Name, topic and privacy', 'aria-describedby': alert.id, novalidate: true },
    h('fieldset', { class: 'plain-fieldset', disabled: archived },
      h('legend', { class: 'vh' }, 'Name, topic and privacy'),
      h('div', { class: 'field' }, h('label', { for: name.id }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: topic.id }, 'Topic'), topic,
        h('p', { id: 'channel-topic-hint', class: 'hint' }, 'Shown under the channel\'s name. Leave it empty for none.')),
      h('div', { class: 'field' },
        h('div', { class: 'check-field' }, priv, h('label', { for: priv.id }, 'Private channel')),
        h('p', { id: 'channel-private-hint', class: 'hint' }, 'Out of the channel directory: people join only when a member adds them.')),
      h('p', { class: 'form-buttons' }, save)),
    alert,
    status));
  const archiveButton = h('button', { type: 'button', class: archived ? '' : 'danger', 'aria-describedby': 'channel-archive-hint', dataset: { key: 'archive' } },
    archived ? 'Unarchive channel' : 'Archive channel');
  const archiveHint = h('p', { id: 'channel-archive-hint', class: 'hint' }, archived
    ? 'Archived: read-only, and out of the directory. Unarchive it to write in it or change its settings again.'
    : 'Makes it read-only and takes it out of the directory; its history stays.');
  const focusedKey = box.contains(document.activeElement) ? /** @type {HTMLElement} */ (document.activeElement).dataset.key : null;
  box.replaceChildren(form, h('div', { class: 'channel-archive' }, archiveButton, archiveHint));
  shown = { box, conversationId: conv.id, filled, fields: { name, topic, private: priv } };
  if (focusedKey) /** @type {HTMLElement | null} */ (box.querySelector(`[data-key="${focusedKey}"]`))?.focus();
  else if (when === 'first') (archived ? archiveButton : name).focus();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (isBusy(save)) return;
    alert.textContent = '';
    status.textContent = '';
    /** @type {import('/api.js').ChannelPatch} */
    const patch = {};
    const newName = name.value.trim();
    if (newName !== filled.name) patch.name = newName;
    if (topic.value.trim() !== filled.topic) patch.topic = topic.value.trim();
    if (priv.checked !== filled.private) patch.private = priv.checked;
    if (!Object.keys(patch).length) {
      status.textContent = 'Nothing to save.';
      return;
    }
    if (patch.name === '') {
      alert.textContent = 'Not saved: a channel needs a name.';
      name.focus();
      return;
    }
    setBusy(save, true);
    try {
      const changed = await updateChannel(conv.id, patch);
      if (state !== s) return;
      Object.assign(filled, { name: changed.name || '', topic: changed.topic || '', private: !!changed.private });
      updateConversation(changed);
      if (form.isConnected) status.textContent = 'Saved.';
    } catch (err) {
      if (state === s && err.status !== 401) alert.textContent = `Not saved: ${err.message}`;
    } finally {
      setBusy(save, false);
    }
  });

  archiveButton.addEventListener('click', async () => {
    if (isBusy(archiveButton)) return;
    alert.textContent = '';
    status.textContent = '';
    const channel = state.conversations.get(conv.id)?.name || 'this channel';
    if (!archived) {
      const yes = await confirmDialog(`Archive ${channel}?`,
        'No one can write in it until a moderator brings it back, and it leaves the channel directory. Its history stays.',
        'Archive', { opener: archiveButton });
      if (!yes || state !== s || !archiveButton.isConnected) return;
    }
    setBusy(archiveButton, true);
    try {
      const changed = await setArchived(conv.id, !archived);
      if (state !== s) return;
      updateConversation(changed); // which shows the form anew
      const now = box.querySelector('.channel-form-settings [role="status"]');
      if (now) now.textContent = changed.archived ? 'Archived.' : 'Unarchived.';
    } catch (err) {
      if (state !== s || err.status === 401) return;
      setBusy(archiveButton, false);
      alert.textContent = `${archived ? 'Not unarchived' : 'Not archived'}: ${err.message}`;
    }
  });
}

// The channel changed (here or elsewhere): archiving or bringing it back shows the form anew; a new name,
// topic or privacy fills the fields the user has not changed.
subscribe('conversations', () => {
  const s = state;
  if (!s || !shown || !shown.box.isConnected) return;
  const conv = s.conversations.get(shown.conversationId)?.conv;
  if (!conv) return;
  const { filled, fields } = shown;
  if (!!conv.archived !== filled.archived) {
    render(shown.box, conv);
    return;
  }
  const now = { name: conv.name || '', topic: conv.topic || '', private: !!conv.private };
  if (now.name !== filled.name && fields.name.value.trim() === filled.name) fields.name.value = now.name;
  if (now.topic !== filled.topic && fields.topic.value.trim() === filled.topic) fields.topic.value = now.topic;
  if (now.private !== filled.private && fields.private.checked === filled.private) fields.private.checked = now.private;
  Object.assign(filled, now);
});
