// An archived channel is read-only: the open conversation shows "This channel is archived" in place of the
// composer, and the composer comes back when a moderator brings the channel back. Both follow the
// `conversations` notice, so a `conversation.updated` from the socket shows at once on every open page. (The
// message actions, the thread pane and the header leave out what the server refuses in the same way, each
// where it is built: see `isReadOnly` in conversations.js.)
import { showComposer } from '/composer.js';
import { isReadOnly } from '/conversations.js';
import { state, subscribe } from '/state.js';
import { $ } from '/ui.js';

/** Shows the note or the composer, as the open conversation is archived or not. When the composer goes with
 * the focus in it, the focus goes to the note, not to the page. */
function sync() {
  const archived = isReadOnly(state.open?.id);
  const note = $('#archived-note');
  if (!note || note.hidden === !archived) return;
  const hadFocus = $('#composer').contains(document.activeElement);
  showComposer(!archived);
  note.hidden = !archived;
  if (archived && hadFocus) note.focus();
}

/** Shows the freshly mounted main screen's composer (no conversation is open yet). */
export function setupChannelArchived() {
  sync();
}

subscribe('conversations', () => state && sync());
