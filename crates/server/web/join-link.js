// A channel's join link opened in the browser (`/v1/join/HANDLE` redirects to `/?join=HANDLE`): since a link
// can come from anyone, the user is asked first ("Join Launch (#launch)?"), and the channel is joined only on
// "Join". One already joined just opens.
import { api } from '/api.js';
import { showAboveList } from '/conversation-list.js';
import { closeConversation, enterConversation, openConversation } from '/conversation.js';
import { focusFirstTool } from '/panels.js';
import { state } from '/state.js';
import { fmtNumber, h, isBusy, setBusy } from '/ui.js';

/** Asks about the join link the page was opened with, if any (once the list is read). */
export async function joinFromUrl() {
  const s = state;
  const handle = new URLSearchParams(location.search).get('join');
  if (!handle || !s) return;
  history.replaceState(null, '', '/');
  const joined = [...s.conversations.values()].find((e) => e.conv.handle === handle);
  if (joined) return openConversation(joined.id);
  let info = null;
  try {
    const { conversations } = await api('GET', `/v1/channels?q=${encodeURIComponent(handle)}`);
    info = conversations.find((c) => c.handle === handle) || null;
  } catch {
    /* a private channel is not listed: asked by its handle alone */
  }
  if (state !== s) return;
  const title = info?.name ? `${info.name} (#${handle})` : `#${handle}`;
  const error = h('p', { role: 'alert', class: 'form-error' });
  const yes = h('button', { type: 'button', class: 'primary' }, 'Join');
  const no = h('button', { type: 'button' }, 'Not now');
  const ask = h('section', { class: 'dm-panel join-ask', 'aria-labelledby': 'join-ask-title' },
    h('h2', { id: 'join-ask-title' }, `Join ${title}?`),
    info ? h('p', { class: 'hint' }, `${fmtNumber(info.member_count)} member${info.member_count === 1 ? '' : 's'}`) : null,
    h('p', { class: 'join-ask-buttons' }, yes, ' ', no),
    error);
  const done = (/** @type {'focus the tools' | 'leave the focus'} */ focus) => {
    ask.remove();
    if (focus === 'focus the tools') focusFirstTool();
  };
  no.addEventListener('click', () => done('focus the tools'));
  yes.addEventListener('click', async () => {
    if (isBusy(yes)) return;
    setBusy(yes, true);
    error.textContent = '';
    try {
      const conv = await api('POST', `/v1/join/${encodeURIComponent(handle)}`);
      if (await enterConversation(s, conv)) done('leave the focus');
    } catch (err) {
      if (err.status !== 401) error.textContent = `Could not join ${title}: ${err.message}`;
    } finally {
      setBusy(yes, false);
    }
  });
  if (s.open) closeConversation();
  showAboveList(ask);
  yes.focus();
}
