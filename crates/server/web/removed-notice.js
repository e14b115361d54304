// Told to someone a channel's moderator removed: the channel has left their list (and closed, if it was
// open), and a notice above the list says so until "OK" is pressed. Its sentence is an alert, so a screen
// reader says it at once, wherever the focus is.
import { showAboveList } from '/conversation-list.js';
import { focusFirstTool } from '/panels.js';
import { h } from '/ui.js';

/** Shows the notice for channel `name` (the name the user knew it by), in place of an earlier one.
 * @param {string} name */
export function showRemovedNotice(name) {
  document.querySelector('.removed-notice')?.remove();
  const ok = h('button', { type: 'button', class: 'primary' }, 'OK');
  const notice = h('section', { class: 'dm-panel join-ask removed-notice', 'aria-labelledby': 'removed-notice-title' },
    h('h2', { id: 'removed-notice-title' }, 'Removed from a channel'),
    h('p', { role: 'alert' }, `A moderator removed you from ${name}.`),
    h('p', { class: 'join-ask-buttons' }, ok));
  const done = () => {
    const hadFocus = notice.contains(document.activeElement);
    notice.remove();
    if (hadFocus) focusFirstTool();
  };
  ok.addEventListener('click', done);
  notice.addEventListener('keydown', (ev) => ev.key === 'Escape' && done());
  showAboveList(notice);
}
