// The side panels: "New direct message", "New group", "Channels", "Invite people" and a conversation's
// "Invite". Each is a section opened by its button; at most one is open. The modules of the panels register
// them here with what opening and closing does; this module only switches between them, and shows the
// buttons of those the user may use (`offered`), live as that changes (the `permissions` notice).
import { state, subscribe } from '/state.js';
import { $ } from '/ui.js';

/**
 * A panel: its button and section (selectors), what to do when it opens (focus its first field, read what it
 * lists) and when it closes (forget what was typed), and whether it is offered to the user now (absent:
 * always).
 * @typedef {{button: string, section: string, open?: () => void, reset?: () => void, offered?: () => boolean}} Panel
 */

/** The panels of the mounted main screen, by name, in the order they were registered. */
let panels = /** @type {Map<string, Panel>} */ (new Map());

/** Forgets the panels of the previous main screen: each login mounts a new one. */
export function setupPanels() {
  panels = new Map();
}

/**
 * Adds a panel: its button opens and closes it, Escape in it closes it and puts the focus back on the button.
 * @param {string} name
 * @param {Panel} panel
 */
export function registerPanel(name, panel) {
  panels.set(name, panel);
  if (panel.offered) $(panel.button).hidden = !panel.offered();
  $(panel.button).addEventListener('click', () => setPanel(state.panel === name ? null : name));
  $(panel.section).addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      setPanel(null);
      $(panel.button).focus();
    }
  });
}

/** Opens one panel (closing the others), or none.
 * @param {string | null} name */
export function setPanel(name) {
  state.panel = name;
  for (const [key, panel] of panels) {
    $(panel.section).hidden = key !== name;
    $(panel.button).setAttribute('aria-expanded', String(key === name));
  }
  for (const [key, panel] of panels) if (key !== name) panel.reset?.();
  panels.get(name)?.open?.();
}

/** Shows the button of each panel the user may use now, and hides the others'; an open panel that is no
 * longer offered closes, the focus (if it was in it) going to the side's first tool. */
function offerPanels() {
  for (const [name, panel] of panels) {
    if (!panel.offered) continue;
    const offered = panel.offered();
    const button = $(panel.button);
    const hadFocus = document.activeElement === button || $(panel.section).contains(document.activeElement);
    button.hidden = !offered;
    if (offered) continue;
    if (state.panel === name) setPanel(null);
    if (hadFocus) focusFirstTool();
  }
}

subscribe('permissions', () => state && offerPanels());

/** The focus goes to the first of the side's tools ("New direct message"), when what had it is gone. */
export function focusFirstTool() {
  $('#new-dm').focus();
}
