// One file's upload, as the API does it: ask where to send it (`POST /v1/uploads`), send its parts, then
// complete it (`POST /v1/uploads/{id}/complete`). Each part goes with XMLHttpRequest, which tells how far the
// bytes have gone and can be aborted (fetch can do neither for a request body). On the local store a part is
// a `PUT` of its bytes to this server, with the token; on an object store, a `POST` form straight to the
// store, its `fields` first and the bytes last as `file`, with no token. One code path does both.
import { api, ApiError, errorAnswer, session } from '/api.js';

/** @typedef {import('/state.js').Upload} Upload */
/** @typedef {import('/state.js').UploadPart} UploadPart */

/** The error an upload ends with when it was cancelled here: nothing to show. */
export const CANCELLED = 'cancelled';

export class FileUpload {
  /**
   * Starts uploading `file`; `onProgress(fraction)` hears how much of it has been sent, from 0 to 1.
   * `done` resolves to the complete upload, or rejects with an ApiError (`code` CANCELLED once cancelled).
   * @param {File} file
   * @param {(fraction: number) => void} [onProgress]
   */
  constructor(file, onProgress = () => {}) {
    this.file = file;
    this.onProgress = onProgress;
    /** The upload's id, once the server has given it. @type {string | null} */
    this.id = null;
    this.cancelled = false;
    this.deleted = false;
    /** The part being sent. @type {XMLHttpRequest | null} */
    this.xhr = null;
    /** @type {Promise<Upload>} */
    this.done = this.run();
  }

  /** @returns {Promise<Upload>} */
  async run() {
    const file = this.file;
    /** @type {Upload} */
    const upload = await api('POST', '/v1/uploads', {
      name: file.name || 'file',
      size: file.size,
      ...(file.type ? { content_type: file.type } : {}),
    });
    this.id = upload.id;
    this.stopIfCancelled();
    let offset = 0;
    for (const part of upload.parts) {
      const before = offset;
      await this.sendPart(part, file.slice(offset, offset + part.size), (sent) => this.onProgress((before + sent) / file.size));
      offset += part.size;
      this.stopIfCancelled();
    }
    this.onProgress(1);
    const complete = await api('POST', `/v1/uploads/${upload.id}/complete`);
    this.stopIfCancelled();
    return complete;
  }

  /** Stops the upload: the part on its way is aborted and the upload deleted on the server. */
  cancel() {
    if (this.cancelled) return;
    this.cancelled = true;
    this.xhr?.abort();
    if (this.id) this.forget();
  }

  /** Throws once cancelled (after deleting what the server made meanwhile). */
  stopIfCancelled() {
    if (!this.cancelled) return;
    this.forget();
    throw new ApiError(0, CANCELLED, 'Cancelled.');
  }

  forget() {
    if (this.deleted || !this.id) return;
    this.deleted = true;
    api('DELETE', `/v1/uploads/${this.id}`).catch(() => {}); // a leftover is collected by the server after a day
  }

  /**
   * Sends one part; `progress(bytes)` hears how many of its bytes have gone.
   * @param {UploadPart} part
   * @param {Blob} bytes
   * @param {(bytes: number) => void} progress
   * @returns {Promise<void>}
   */
  sendPart(part, bytes, progress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      const url = new URL(part.url, location.href);
      // The token goes to this server only, never to an object store (or any other host a URL could name).
      const token = part.method !== 'POST' && url.origin === location.origin ? session.token : null;
      xhr.open(part.method, url.href);
      /** @type {Blob | FormData} */
      let body = bytes;
      if (part.method === 'POST') {
        const form = new FormData();
        for (const [name, value] of Object.entries(part.fields || {})) form.append(name, value);
        form.append('file', bytes, this.file.name || 'file');
        body = form;
      } else {
        if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
        xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      }
      // A form's total counts its fields too: the fraction sent is what counts.
      xhr.upload.onprogress = (ev) => ev.lengthComputable && ev.total && progress((part.size * ev.loaded) / ev.total);
      xhr.onload = () => {
        this.xhr = null;
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(errorAnswer(xhr.status, xhr.responseText, xhr.getResponseHeader('Retry-After'), token));
      };
      xhr.onerror = () => {
        this.xhr = null;
        reject(new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.'));
      };
      xhr.onabort = () => {
        this.xhr = null;
        reject(new ApiError(0, CANCELLED, 'Cancelled.'));
      };
      xhr.send(body);
    });
  }
}
