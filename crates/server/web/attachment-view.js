// The files of a message, as its article shows them. A picture with a preview shows the preview, a button that
// opens the viewer, its room kept from the preview's size (scaled to fit 320 × 240) so that nothing moves when
// it loads. A picture whose preview is not made yet (it was sent a moment after its upload) shows a box of
// fixed size until `message.updated` brings the preview. Anything else is a card: its type, name, size and
// "Download". Names are text nodes, never HTML. Images and downloads go through signed links (file-links.js).
import { cachedLink, fileLink } from '/file-links.js';
import { openImageViewer } from '/image-viewer.js';
import { fmtSize, h } from '/ui.js';

/** @typedef {import('/state.js').Attachment} Attachment */

/** The largest a preview shows in the log, in CSS pixels (the placeholder's size too). */
const MAX_WIDTH = 320;
const MAX_HEIGHT = 240;
/** The pictures the server makes previews of. */
const PICTURE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];
/** How long after its message a preview is waited for; after that the picture did not decode, and it is
 * offered as a file to download. */
const PREVIEW_WAIT = 60000;

/**
 * The room a preview of `width` × `height` takes in the log: scaled down to fit, never up.
 * @param {number} width
 * @param {number} height
 */
export function displaySize(width, height) {
  const scale = Math.min(1, MAX_WIDTH / width, MAX_HEIGHT / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * The files of a message, or null when it has none. `sentAt`: when its message was written (a picture without
 * a preview is waited for a minute after). `pending`: the message is not sent yet, and its files cannot be
 * opened or downloaded yet.
 * @param {Attachment[] | undefined} files
 * @param {{sentAt?: string, pending?: boolean}} [options]
 * @returns {HTMLElement | null}
 */
export function renderAttachments(files, { sentAt, pending = false } = {}) {
  if (!files?.length) return null;
  const recent = !sentAt || Date.now() - Date.parse(sentAt) < PREVIEW_WAIT;
  return h('div', { class: 'attachments' }, ...files.map((file) => {
    if (pending) return fileCard(file, false);
    if (file.thumbnail) return picture(file);
    if (PICTURE_TYPES.includes(file.content_type) && recent) return placeholder(file);
    return fileCard(file, true);
  }));
}

/** What the list says of a message that has files and no text: "📎 photo.png", "📎 photo.png and 2 more".
 * @param {Attachment[] | undefined} files */
export function describeAttachments(files) {
  if (!files?.length) return '';
  return files.length === 1 ? `📎 ${files[0].name}` : `📎 ${files[0].name} and ${files.length - 1} more`;
}

/** A picture's preview: a button that opens the viewer.
 * @param {Attachment} file */
function picture(file) {
  const { width, height } = displaySize(file.thumbnail.width, file.thumbnail.height);
  // The width and height attributes give the image its room (and aspect ratio) before it loads.
  const image = h('img', { alt: file.name, width, height, decoding: 'async' });
  const button = h('button', { type: 'button', class: 'picture', 'aria-label': `View ${file.name}`, dataset: { key: `picture:${file.id}` } }, image);
  const link = cachedLink(file.id, { thumbnail: true });
  if (link) image.setAttribute('src', link.thumbnail_url);
  else fileLink(file.id, { thumbnail: true }).then((l) => image.setAttribute('src', l.thumbnail_url || l.url), () => button.classList.add('broken'));
  button.addEventListener('click', () => openImageViewer(file, button));
  return button;
}

/** The box a picture shows while its preview is made.
 * @param {Attachment} file */
function placeholder(file) {
  return h('div', { class: 'picture-pending' },
    h('span', { class: 'file-name' }, file.name),
    h('span', { class: 'picture-pending-note' }, 'Preparing preview…'));
}

/** A file's card: its type, name, size and, once sent, "Download".
 * @param {Attachment} file
 * @param {boolean} downloadable */
function fileCard(file, downloadable) {
  return h('div', { class: 'file-card' },
    h('span', { class: 'file-type', 'aria-hidden': 'true' }, typeLabel(file)),
    h('span', { class: 'file-about' },
      h('span', { class: 'file-name' }, file.name),
      h('span', { class: 'file-size' }, fmtSize(file.size))),
    downloadable ? downloadLink(file) : null);
}

/** "Download": the signed link, asked for again when it is clicked after it has expired.
 * @param {Attachment} file */
function downloadLink(file) {
  const a = h('a', { class: 'file-download', download: file.name, dataset: { key: `download:${file.id}` } },
    'Download', h('span', { class: 'vh' }, ` ${file.name}`));
  const link = cachedLink(file.id);
  if (link) a.setAttribute('href', link.url);
  else fileLink(file.id).then((l) => a.setAttribute('href', l.url), () => {});
  a.addEventListener('click', (ev) => {
    const fresh = cachedLink(file.id);
    if (fresh) {
      a.setAttribute('href', fresh.url);
      return;
    }
    ev.preventDefault();
    fileLink(file.id).then((l) => {
      a.setAttribute('href', l.url);
      a.click();
    }, () => {});
  });
  return a;
}

/** A short label of a file's type for its card: its extension ("PDF"), else its MIME subtype, else "FILE".
 * @param {{name: string, content_type?: string}} file */
export function typeLabel(file) {
  const extension = /\.([a-z0-9]{1,4})$/i.exec(file.name)?.[1];
  if (extension) return extension.toUpperCase();
  const subtype = /^[a-z]+\/([a-z0-9]{1,4})$/i.exec(file.content_type || '')?.[1];
  return subtype ? subtype.toUpperCase() : 'FILE';
}
