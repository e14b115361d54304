// The viewer of a picture on a message: the picture at full size (the file itself, through its signed link)
// in a modal dialog named after the file, with "Download" and "Close". Escape closes it too, and the focus goes
// back to the preview that opened it (or to the same preview drawn again meanwhile, when its message changed).
import { openDialog } from '/dialog.js';
import { fileLink } from '/file-links.js';
import { h } from '/ui.js';

/** @typedef {import('/state.js').Attachment} Attachment */

/**
 * Opens the viewer of picture `file`; `opener` is the preview, whose `data-key` finds it again if its message
 * was drawn again while the viewer was open.
 * @param {Attachment} file
 * @param {HTMLElement} opener
 */
export function openImageViewer(file, opener) {
  const image = h('img', { class: 'viewer-image', alt: file.name });
  const download = h('a', { class: 'file-download', download: file.name }, 'Download', h('span', { class: 'vh' }, ` ${file.name}`));
  const status = h('p', { class: 'hint', role: 'status' });
  const dialog = openDialog(file.name, [h('div', { class: 'viewer-frame' }, image), status, h('p', { class: 'viewer-tools' }, download)],
    { opener, className: 'viewer-dialog' });
  fileLink(file.id).then((link) => {
    image.setAttribute('src', link.url);
    download.setAttribute('href', link.url);
  }, (err) => {
    status.textContent = `Could not load the picture: ${err.message}`;
  });
  const key = opener.dataset.key;
  dialog.addEventListener('close', () => {
    if (opener.isConnected || !key) return;
    /** @type {HTMLElement | null} */ (document.querySelector(`[data-key="${CSS.escape(key)}"]`))?.focus();
  });
}
