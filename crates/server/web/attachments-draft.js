// The files waiting above the composer to go with the next message: "Attach files" (a file picker), files
// dropped on the conversation and pictures pasted into the composer. Each starts uploading at once
// (upload.js) and shows as a chip: its name, size, a progress bar while it uploads, what the server said if
// it refused it, and "Remove" (which aborts it and deletes the upload). Each conversation keeps its own files
// while another is open. The composer asks `draftState` whether it may send, and `takeAttachments` when it
// sends. A read-only conversation (an archived channel), which has no composer, takes no dropped files.
import { typeLabel } from '/attachment-view.js';
import { isReadOnly } from '/conversations.js';
import { state, subscribe } from '/state.js';
import { $, fmtSize, h } from '/ui.js';
import { CANCELLED, FileUpload } from '/upload.js';

/** @typedef {import('/state.js').Attachment} Attachment */
/** @typedef {import('/state.js').Upload} Upload */

/**
 * One file of a draft and its chip. `upload` is complete once `done` is set; `error` says why it failed.
 * @typedef {{file: File, upload: FileUpload, done: Upload | null, error: string | null, chip: HTMLElement,
 *   bar: HTMLProgressElement, preview: string | null}} DraftFile
 */

/** The most files one message may carry. */
export const MAX_FILES = 10;

/** The files of each conversation's draft, of the session `owner`. */
let owner = null;
/** @type {Map<string, DraftFile[]>} */
let drafts = new Map();
/** Told whenever a draft changes (the composer greys "Send" while a file uploads). */
let changed = () => {};
let chipIds = 0;
/** Whether a file dropped outside the conversation is kept from the browser (which would leave the page). */
let guarded = false;
/** The conversation whose files show. */
let shownFor = /** @type {string | null} */ (null);

const list = () => $('#draft-files');
const status = () => $('#draft-status');

/** The files of the open conversation's draft (of this session). */
function openFiles() {
  if (owner !== state) {
    owner = state;
    drafts = new Map();
  }
  const id = state?.open?.id;
  if (!id) return null;
  if (!drafts.has(id)) drafts.set(id, []);
  return drafts.get(id);
}

/**
 * Wires "Attach files" and its file picker in a freshly mounted main screen. `onChange` is called whenever the
 * open conversation's files change (one added, uploaded, failed, removed).
 * @param {() => void} onChange
 */
export function setupAttachmentsDraft(onChange) {
  changed = onChange;
  const input = /** @type {HTMLInputElement} */ ($('#attach-input'));
  $('#attach').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    addFiles([...(input.files || [])]);
    input.value = '';
  });
  showOpenDraft();
}

/**
 * Makes `zone` (the conversation) take files dropped on it, unless it is read-only; elsewhere in the page (and
 * there), a dropped file does nothing (rather than the browser leaving the page to show it).
 * @param {HTMLElement} zone
 */
export function acceptFileDrops(zone) {
  const hasFiles = (/** @type {DragEvent} */ ev) => !!ev.dataTransfer?.types.includes('Files');
  const takes = (/** @type {DragEvent} */ ev) => hasFiles(ev) && !isReadOnly(state.open?.id);
  let depth = 0;
  zone.addEventListener('dragenter', (ev) => {
    if (!takes(ev)) return;
    depth++;
    zone.classList.add('dropping');
  });
  zone.addEventListener('dragleave', (ev) => {
    if (hasFiles(ev) && --depth <= 0) {
      depth = 0;
      zone.classList.remove('dropping');
    }
  });
  zone.addEventListener('dragover', (ev) => {
    if (!takes(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('drop', (ev) => {
    depth = 0;
    zone.classList.remove('dropping');
    if (!takes(ev)) return;
    ev.preventDefault();
    addFiles([...ev.dataTransfer.files]);
  });
  if (guarded) return;
  guarded = true;
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (ev) => {
      if (hasFiles(/** @type {DragEvent} */ (ev)) && !ev.defaultPrevented) ev.preventDefault();
    });
  }
}

/**
 * Adds files to the open conversation's draft, each uploading at once; beyond `MAX_FILES`, the rest are
 * left out, and the status line says so.
 * @param {File[]} files
 */
export function addFiles(files) {
  const draft = openFiles();
  if (!draft || !files.length) return;
  const room = MAX_FILES - draft.length;
  for (const file of files.slice(0, Math.max(0, room))) {
    const d = startFile(file);
    draft.push(d);
    list().append(d.chip);
  }
  showStatus(files.length > room ? `At most ${MAX_FILES} files go with one message: ${files.length - Math.max(0, room)} left out.` : null);
  changed();
}

/** Starts uploading `file`, with its chip.
 * @param {File} file
 * @returns {DraftFile} */
function startFile(file) {
  const s = state;
  const n = ++chipIds;
  const bar = /** @type {HTMLProgressElement} */ (h('progress', { max: '1', value: '0', 'aria-label': `Uploading ${file.name}` }));
  const preview = file.type.startsWith('image/') ? URL.createObjectURL(file) : null;
  const remove = h('button', { type: 'button', class: 'draft-remove', 'aria-label': `Remove ${file.name}`, title: 'Remove', 'aria-describedby': `draft-error-${n}` }, '×');
  const chip = h('li', { class: 'draft-file', dataset: { state: 'uploading' } },
    preview ? h('img', { class: 'draft-thumb', src: preview, alt: '' }) : h('span', { class: 'file-type draft-thumb', 'aria-hidden': 'true' }, typeLabel({ name: file.name, content_type: file.type })),
    h('span', { class: 'draft-about' },
      h('span', { class: 'file-name' }, file.name),
      h('span', { class: 'file-size' }, fmtSize(file.size)),
      bar,
      h('span', { class: 'draft-error', id: `draft-error-${n}` })),
    remove);
  /** @type {DraftFile} */
  const d = { file, upload: new FileUpload(file, (fraction) => (bar.value = fraction)), done: null, error: null, chip, bar, preview };
  remove.addEventListener('click', () => removeFile(d));
  d.upload.done.then((upload) => {
    if (state !== s) return;
    d.done = upload;
    chip.dataset.state = 'complete';
    bar.remove();
    changed();
    showStatus(null);
  }, (err) => {
    if (state !== s || err.code === CANCELLED) return;
    d.error = err.message;
    chip.dataset.state = 'failed';
    bar.remove();
    chip.querySelector('.draft-error').textContent = err.message;
    changed();
    showStatus(null);
  });
  return d;
}

/** Takes `d` out of its draft: its upload is stopped and deleted; the focus goes to the next chip's "Remove"
 * (or the one before, or the composer).
 * @param {DraftFile} d */
function removeFile(d) {
  const draft = [...drafts.values()].find((files) => files.includes(d));
  if (!draft) return;
  const i = draft.indexOf(d);
  draft.splice(i, 1);
  d.upload.cancel();
  forget(d);
  const next = draft[i] || draft[i - 1];
  /** @type {HTMLElement | null} */ ((next?.chip.querySelector('.draft-remove')) || $('#msg'))?.focus();
  showStatus(null);
  changed();
}

/** Frees what a chip holds once it goes.
 * @param {DraftFile} d */
function forget(d) {
  d.chip.remove();
  if (d.preview) URL.revokeObjectURL(d.preview);
}

/** Where the open conversation's files stand: how many are uploading, have failed, are ready. */
export function draftState() {
  const draft = openFiles() || [];
  return {
    uploading: draft.filter((d) => !d.done && !d.error).length,
    failed: draft.filter((d) => d.error).length,
    ready: draft.filter((d) => d.done).length,
  };
}

/**
 * Takes the open conversation's uploaded files for a send: their upload ids, and the files as the pending
 * message shows them. Their chips go; the uploads now belong to the message.
 * @returns {{ids: string[], files: Attachment[]}}
 */
export function takeAttachments() {
  const draft = openFiles() || [];
  const ready = draft.filter((d) => d.done);
  for (const d of ready) {
    draft.splice(draft.indexOf(d), 1);
    forget(d);
  }
  showStatus(null);
  changed();
  return {
    ids: ready.map((d) => d.done.id),
    files: ready.map((d) => ({ id: d.done.id, name: d.done.name, size: d.done.size, content_type: d.done.content_type || d.file.type })),
  };
}

/** Stops every upload of the session's drafts (it ended). */
export function dropDrafts() {
  for (const draft of drafts.values()) for (const d of draft) d.upload.cancel();
  drafts = new Map();
  owner = null;
  shownFor = null;
}

/** What the status line under the chips says: `note` (files left out), else what the uploads wait for.
 * @param {string | null} note */
function showStatus(note) {
  const { uploading, failed } = draftState();
  let text = note || '';
  if (!text && uploading) text = `Uploading ${uploading} ${uploading === 1 ? 'file' : 'files'}… Send once ${uploading === 1 ? 'it is' : 'they are'} done.`;
  else if (!text && failed) text = `Remove the ${failed === 1 ? 'file' : 'files'} that could not be uploaded to send.`;
  if (status().textContent !== text) status().textContent = text;
  list().hidden = !list().children.length;
}

/** Shows the open conversation's files (another conversation was opened). */
function showOpenDraft() {
  const draft = openFiles() || [];
  list().replaceChildren(...draft.map((d) => d.chip));
  showStatus(null);
}

// Another conversation opened: its own files show.
subscribe('conversations', () => {
  const id = state?.open?.id ?? null;
  if (!state || id === shownFor) return;
  shownFor = id;
  showOpenDraft();
  changed();
});
