// Signed links to files (`POST /v1/files/links`), for what cannot send the token: `<img src>` and download
// links. The ids asked for in one turn of the event loop go in one request (100 at most each), and each link
// is kept until a minute before it expires. A picture whose preview came after its link was made is asked
// for again, for its `thumbnail_url`.
import { api } from '/api.js';
import { state } from '/state.js';

/** @typedef {import('/state.js').FileLink} FileLink */
/** @typedef {{resolve: (link: FileLink) => void, reject: (error: Error) => void}} Waiter */

/** A link this close to expiring counts as expired: it may be clicked a while after it is shown. */
const MARGIN = 60000;
/** Most ids one request may carry. */
const BATCH = 100;

/** The links of the session `owner`, by file id, and the ids waiting for the next request. */
let owner = null;
/** @type {Map<string, FileLink>} */
let links = new Map();
/** @type {Map<string, Waiter[]>} */
let wanted = new Map();

/** The maps of the current session (a new login starts empty). */
function current() {
  if (owner !== state) {
    owner = state;
    links = new Map();
    wanted = new Map();
  }
}

/**
 * The link of file `id` if one is kept and good for a while, else null. `thumbnail`: only one that has a
 * `thumbnail_url` will do.
 * @param {string} id
 * @param {{thumbnail?: boolean}} [options]
 * @returns {FileLink | null}
 */
export function cachedLink(id, { thumbnail = false } = {}) {
  current();
  const link = links.get(id);
  if (!link || Date.parse(link.expires_at) - Date.now() < MARGIN) return null;
  return thumbnail && !link.thumbnail_url ? null : link;
}

/**
 * A link to file `id`: kept, or asked for with the others wanted now.
 * @param {string} id
 * @param {{thumbnail?: boolean}} [options]
 * @returns {Promise<FileLink>}
 */
export function fileLink(id, options) {
  const link = cachedLink(id, options);
  if (link) return Promise.resolve(link);
  return new Promise((resolve, reject) => {
    if (!wanted.size) setTimeout(flush, 0);
    if (!wanted.has(id)) wanted.set(id, []);
    wanted.get(id).push({ resolve, reject });
  });
}

function flush() {
  const batch = wanted;
  wanted = new Map();
  const ids = [...batch.keys()];
  for (let i = 0; i < ids.length; i += BATCH) ask(ids.slice(i, i + BATCH), batch);
}

/**
 * One request for `ids`; answers their waiters in `batch`. A 404 means one of them cannot be seen (its
 * message deleted, say): each is then asked for alone, so the others still show.
 * @param {string[]} ids
 * @param {Map<string, Waiter[]>} batch
 */
async function ask(ids, batch) {
  const s = owner;
  try {
    const { links: answered } = await api('POST', '/v1/files/links', { ids });
    if (owner !== s) return;
    for (const link of answered) links.set(link.id, link);
    for (const id of ids) {
      const link = answered.find((/** @type {FileLink} */ l) => l.id === id);
      for (const w of batch.get(id)) link ? w.resolve(link) : w.reject(new Error('no link'));
    }
  } catch (err) {
    if (err.status === 404 && ids.length > 1) {
      for (const id of ids) ask([id], batch);
      return;
    }
    for (const id of ids) for (const w of batch.get(id)) w.reject(err);
  }
}
