// Small DOM helpers. Everything user-provided goes in as text nodes, never as HTML.

/** Builds an element: h('button', {type: 'button', class: 'x', onclick: fn}, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** Whether the window is a phone's width: the list or the open conversation shows, not both. */
export const NARROW = window.matchMedia('(max-width: 700px)');

/** Compares two decimal id strings (64-bit, no leading zeros) without losing precision. */
export function cmpId(a, b) {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** A short, local time: "14:05" today, "Nov 23, 14:05" on other days. */
export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeFmt.format(d) : dateFmt.format(d);
}

/** The local time of day: "14:05".
 * @param {string} iso */
export function clockTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : timeFmt.format(d);
}

const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

/** The date and time in full: "Thursday, December 4, 2026 at 14:05".
 * @param {string} iso */
export function fullTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : fullFmt.format(d);
}

/** The local calendar day of a time, as a key: equal keys, same day.
 * @param {string} iso */
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const dayYearFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

/** A day as people say it: "Today", "Yesterday", else its date ("Monday, December 1", with the year when
 * it is not this year's).
 * @param {string} iso a time of that day */
export function dayLabel(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (d.toDateString() === now.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return (d.getFullYear() === now.getFullYear() ? dayFmt : dayYearFmt).format(d);
}

export const fmtNumber = (n) => n.toLocaleString('en-US');

const SIZE_UNITS = ['KB', 'MB', 'GB', 'TB'];

/** A size in bytes as people read it: "12 B", "1.2 KB", "340 KB", "1.2 MB" (1 KB = 1,000 bytes, as disks
 * and phones count).
 * @param {number} bytes */
export function fmtSize(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 999.5 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const shown = value < 9.95 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value));
  return `${shown} ${SIZE_UNITS[unit]}`;
}

/** A random UUID, also outside secure contexts (where crypto.randomUUID is missing). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Search as you type: `run(query, isCurrent)` 150 ms after the last keystroke. `isCurrent()` turns false once
 * a later search (or `reset`) has started, so a slow answer cannot overwrite a newer one. */
export function liveSearch(input, run) {
  let timer = 0;
  let seq = 0;
  const now = () => {
    clearTimeout(timer);
    const mine = ++seq;
    return run(input.value.trim(), () => mine === seq);
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(now, 150);
  });
  return {
    now,
    reset() {
      clearTimeout(timer);
      seq++;
      input.value = '';
    },
  };
}

/** One Tab stop for a row of buttons, with the arrow keys (and Home, End) to move along it: a roving tabindex.
 * The first button holds the stop until another one is focused. */
export function roving(box) {
  const buttons = [...box.querySelectorAll('button')];
  buttons.forEach((b, i) => (b.tabIndex = i === 0 ? 0 : -1));
  box.addEventListener('focusin', (ev) => {
    if (buttons.includes(ev.target)) for (const b of buttons) b.tabIndex = b === ev.target ? 0 : -1;
  });
  box.addEventListener('keydown', (ev) => {
    const i = buttons.indexOf(document.activeElement);
    const n = buttons.length;
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1 + n, Home: 0, End: n - 1 }[ev.key];
    if (i < 0 || to === undefined) return;
    ev.preventDefault();
    buttons[to % n].focus();
  });
}

// A control at work (a request in flight) is marked aria-disabled, not disabled: a disabled button loses the
// keyboard focus to <body>. Its handler checks isBusy() instead, and the style greys it the same.
export const isBusy = (el) => el.getAttribute('aria-disabled') === 'true';

export function setBusy(el, busy) {
  if (busy) el.setAttribute('aria-disabled', 'true');
  else el.removeAttribute('aria-disabled');
}
