// Moving between the open conversation's messages by keyboard. Messages are focusable but not Tab stops
// (tabindex=-1: Tab still goes list, header, log, composer); the arrow keys move between them, and a message
// with the focus shows its actions (style.css), which Tab then reaches.
import { extendDown, extendUp, lastVisible } from '/message-log.js';
import { state } from '/state.js';
import { $ } from '/ui.js';

/** Wires the keys of a freshly mounted log. */
export function setupMessageNavigation() {
  $('#log').addEventListener('keydown', moveBetweenMessages);
}

/** The arrow keys on the log or on a message: Up and Down go to the previous and next message (from the log
 * itself, to the last and first one on screen), Home and End to the first and last one rendered.
 * @param {KeyboardEvent} ev */
function moveBetweenMessages(ev) {
  const o = state?.open;
  const log = $('#log');
  const from = /** @type {HTMLElement} */ (ev.target);
  const onMessage = from.tagName === 'ARTICLE' && from.parentElement === log;
  if (!o || (from !== log && !onMessage) || ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  const step = (/** @type {'previousElementSibling' | 'nextElementSibling'} */ way) => {
    let el = from[way];
    while (el && el.tagName !== 'ARTICLE') el = el[way];
    return /** @type {HTMLElement | null} */ (el);
  };
  const articles = () => /** @type {NodeListOf<HTMLElement>} */ (log.querySelectorAll(':scope > article'));
  let to = /** @type {HTMLElement | null} */ (null);
  if (!onMessage) {
    if (ev.key === 'ArrowUp') to = o.byId.get(lastVisible(o)) || articles()[articles().length - 1] || null;
    else if (ev.key === 'ArrowDown') to = [...articles()].find((a) => a.getBoundingClientRect().bottom > log.getBoundingClientRect().top) || null;
    else return;
  } else if (ev.key === 'ArrowUp') {
    // At the top of the window, the chunk above is rendered first (or an older page asked for).
    if (!step('previousElementSibling')) extendUp(o);
    to = step('previousElementSibling');
  } else if (ev.key === 'ArrowDown') {
    if (!step('nextElementSibling')) extendDown(o);
    to = step('nextElementSibling');
  } else if (ev.key === 'Home') {
    to = articles()[0];
  } else if (ev.key === 'End') {
    to = articles()[articles().length - 1];
  } else {
    return;
  }
  ev.preventDefault();
  if (!to) return;
  to.focus({ preventScroll: true });
  to.scrollIntoView({ block: 'nearest' });
}
