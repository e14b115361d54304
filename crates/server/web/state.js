// The state of the logged-in session, which the modules of the main screen share, and the notices they send
// each other when part of it changes (publish and subscribe).
//
// app.js builds a new state at every login and drops it at logout. Work that finishes late (a request, a
// timer) keeps the state it started with (`const s = state`) and checks `state === s` before touching
// anything: a different object means that session is over.

// --- what the API gives ----------------------------------------------------------------------------------

/** @typedef {{online: boolean, last_seen?: string | null}} Presence */

/** A person's role in their organization: owners manage everyone, administrators members and guests.
 * @typedef {'owner' | 'admin' | 'member' | 'guest'} Role */

/**
 * A user as the API gives them (`GET /v1/users/{id}`, search results, the `user.updated` frame). `presence` is
 * on profiles and contact lists only; `deactivated` is there (true) only while an administrator has
 * deactivated the account.
 * @typedef {{id: string, name: string, username?: string, org?: string, org_id?: string, role?: Role,
 *   deactivated?: boolean, avatar_url?: string | null, presence?: Presence | null}} User
 */

/** A member's role in a channel: its owners name its moderators; owners and moderators rename it, change its
 * topic and privacy, archive it and remove members.
 * @typedef {'owner' | 'moderator' | 'member'} ChannelRole */

/** @typedef {{emoji: string, user_ids: string[]}} Reaction */

/** A reference to a quoted message ("Reply privately"): whoever reads it asks for the message itself.
 * @typedef {{conversation_id: string, message_id: string}} QuoteRef */

/** Whom a message mentions, as data (the text shows `@name`).
 * @typedef {{user_ids?: string[], channel?: boolean, here?: boolean}} Mentions */

/**
 * A file on a message. A picture the server decoded has `width` and `height` (the original's) and a
 * `thumbnail` (the preview's size, at most 400 px a side), from a moment after it was uploaded.
 * @typedef {{id: string, name: string, size: number, content_type: string, width?: number, height?: number,
 *   thumbnail?: {width: number, height: number} | null}} Attachment */

/** Where to send one part of an upload: `PUT` its bytes to this server (with the token), or `POST` a form
 * to the object store (`fields`, then the bytes as `file`; no token).
 * @typedef {{number: number, size: number, method: string, url: string, fields?: Record<string, string>}} UploadPart */

/** An upload, as its owner sees it (`POST /v1/uploads` and what follows).
 * @typedef {{id: string, name: string, size: number, state: 'pending' | 'complete' | 'attached',
 *   content_type?: string, sha256?: string, expires_at: string, parts: UploadPart[]}} Upload */

/** A signed link to a file (`POST /v1/files/links`), for `<img src>` and downloads, good until `expires_at`.
 * @typedef {{id: string, url: string, thumbnail_url?: string | null, expires_at: string}} FileLink */

/**
 * A stored message. `text` is absent once it is deleted for everyone (`removed_by_moderator` when a channel's
 * moderator or an administrator deleted it, not its author); `nonce` is the client's, on our own sends.
 * A reply in a thread has `thread_root_id` (and `also_to_conversation` when it shows in the main history too);
 * a thread's root has `reply_count`, `last_reply_at` and `repliers` (the first three). `quote`: a quoted message.
 * `attachments`: its files (absent when none, and once deleted); `text` may be empty when it has some.
 * @typedef {{id: string, conversation_id: string, author_id: string, created_at: string, text?: string | null,
 *   nonce?: string | null, reactions?: Reaction[], deleted?: boolean, removed_by_moderator?: boolean, edited_at?: string | null,
 *   mentions?: Mentions | null, thread_root_id?: string | null, also_to_conversation?: boolean,
 *   reply_count?: number, last_reply_at?: string | null, repliers?: string[], quote?: QuoteRef | null,
 *   attachments?: Attachment[]}} Message
 */

/** @typedef {'dm' | 'group' | 'channel'} ConversationKind */

/** The user's own settings in a conversation: `muted` (no notifications), `notify_always` (one for every
 * message, not only mentions), and in a channel their `role` there.
 * @typedef {{conversation_id: string, user_id: string, muted: boolean, notify_always: boolean, role?: ChannelRole,
 *   last_read_message_id?: string | null, joined_at?: string}} Membership */

/**
 * A conversation as the API gives it. In `GET /v1/conversations`, each one also carries `last_message`,
 * `unread_count`, `unread_mentions` (once the server sends it; missing counts as 0) and, for DMs, `members`;
 * `membership` is the user's own, in both. `archived`: a channel made read-only by a moderator.
 * `retention_days`: a channel's own retention (0 for ever); absent, it follows the organization's.
 * @typedef {{id: string, kind: ConversationKind, name?: string | null, handle?: string | null,
 *   topic?: string | null, private?: boolean, archived?: boolean, retention_days?: number | null,
 *   created_by?: string, created_at: string, member_count?: number,
 *   members?: string[] | null, join_url?: string | null, last_message?: Message | null,
 *   unread_count?: number | null, unread_mentions?: number | null, membership?: Membership | null}} Conversation
 */

// --- what the client keeps -------------------------------------------------------------------------------

/**
 * One conversation of the user's list: the API's object and what the list shows of it, kept up to date by
 * events. `other` is a DM's other member (the user themself in a DM with oneself). `mentions`: how many of
 * the unread messages mention the user, as the server last said (0 once none is unread).
 * @typedef {{id: string, conv: Conversation, name: string, other?: string, last: Message | null,
 *   unread: number, mentions: number, activity: string}} ConversationEntry
 */

/**
 * The open conversation. Every loaded message is in `ids` (in order) and `data`; only `ids[lo .. hi)` have an
 * article on the page (`byId`); our sends not acknowledged yet have theirs in `byNonce`.
 * @typedef {{id: string, gen: number, ids: string[], data: Map<string, Message>, lo: number, hi: number,
 *   byId: Map<string, HTMLElement>, byNonce: Map<string, HTMLElement>, oldest: string | null,
 *   newest: string | null, loading: boolean, atStart: boolean, readSent: string | null,
 *   reads: Map<string, string> | null, markAt: Map<string, string[]>, typers: Map<string, number>,
 *   sys: Map<string, string[]>, asked?: Set<string>}} OpenConversation
 * - `reads`: for each other member, the message they have read up to (null in channels, which show no markers);
 * - `markAt`: for a message, the members whose read marker sits after it;
 * - `typers`: for each member typing, the timer that hides their "is typing…";
 * - `sys`: for a message ('' for none), the lines ("NAME joined") that came after it.
 */

/** What a send carries besides its text: whom it mentions, a quoted message, a thread, files (the ids of
 * complete uploads).
 * @typedef {{mentions?: Mentions, quote?: QuoteRef, thread_root_id?: string, also_to_conversation?: boolean,
 *   attachments?: string[]}} SendExtra */

/**
 * A message sent and not acknowledged yet (pending), or refused (`failed` says why). `sentAt`: when, in ms.
 * `extra`: more fields of the `send` op (mentions, a `quote`, `attachments`), sent again with a retry;
 * `files`: its attachments, as the pending message shows them.
 * @typedef {{nonce: string, ref: string | null, conversationId: string, text: string, sentAt: number,
 *   failed?: string | null, extra?: SendExtra, files?: Attachment[]}} PendingSend
 */

/** The profile shown in the open DM: `contact` is null until the contact list has been read.
 * @typedef {{user: User, contact: boolean | null, busy: boolean}} ProfileView */

/**
 * Everything of the logged-in session.
 * @typedef {object} AppState
 * @property {User} me
 * @property {import('/realtime.js').Realtime} rt
 * @property {Map<string, ConversationEntry>} conversations the user's conversations, by id
 * @property {Map<string, Promise<ConversationEntry | null>>} inflight conversations being fetched, by id
 * @property {Map<string, Promise<User>>} userRequests each user asked for, by id
 * @property {Map<string, string>} names each user's name, once known
 * @property {Map<string, User>} users each user, once known
 * @property {Map<string, Presence>} presence the presence of the users we follow
 * @property {Set<string>} followed other users we follow beyond DM partners: members of groups opened here
 * @property {Map<string, Promise<string | null>>} avatars avatar_url → its blob: URL (null when unavailable)
 * @property {Map<string, number>} typingSent conversation id → when we last sent `typing`
 * @property {Map<string, PendingSend>} pending our sends awaiting their ack, by nonce
 * @property {OpenConversation | null} open
 * @property {number} openGen how many conversations were opened (each open one has its number)
 * @property {boolean} listReady whether the list has been read (events wait in `buffer` until then)
 * @property {object[]} buffer events that came before the list was read
 * @property {boolean | null} connected
 * @property {string | null} panel which side panel is open
 * @property {ProfileView | null} profile
 * @property {Map<string, Set<string>>} initial conversation id → its initial members (their joins are not news)
 * @property {import('/api.js').OrgSettings | null} org the organization's settings, once read (permissions.js)
 */

/** The session's state; null while logged out. A live binding: importers always see the current one.
 * @type {AppState | null} */
export let state = null;

/** @param {AppState | null} s */
export function setState(s) {
  state = s;
}

// --- notices ---------------------------------------------------------------------------------------------

/**
 * What modules tell each other, and what each notice carries:
 * - `user`: someone's name, avatar, role or status changed (the user, merged with what was known);
 * - `presence`: a user's presence changed (their id);
 * - `conversations`: the list of conversations, or what an entry shows, changed;
 * - `listed`: the list was read from the server;
 * - `rendered`: the open conversation's log rendered other messages (after a scroll, a load, a new message);
 * - `scrolled`: the open conversation's log was scrolled;
 * - `reaction`: we reacted to a message, or took a reaction back;
 * - `deleted`: we deleted a message, for everyone or for us;
 * - `event`: a durable event from the socket, once applied (for modules that follow more than events.js does);
 * - `reply`: a stored reply in a thread, from an event or the ack of our send;
 * - `refused`: the server refused one of our `send` ops (its `ref`, `code` and `message`);
 * - `open-thread`: open the thread of this root message (a message's "Reply in thread", its replies' summary);
 * - `reply-privately`: answer this message in a DM with its author, quoting it;
 * - `open-message`: show this message where it was written (a quote's card was activated);
 * - `threads`: the threads the user follows, or what is read of them, changed here (followed, read);
 * - `sessions`: the user's sessions changed here (a new password ended every other one);
 * - `permissions`: what the user may do here changed (the organization's settings were read or changed, or
 *   the user's role changed): permissions.js says what it is now.
 * @typedef {{
 *   user: User,
 *   presence: string,
 *   conversations: void,
 *   listed: void,
 *   rendered: OpenConversation,
 *   scrolled: OpenConversation,
 *   reaction: {conversationId: string, messageId: string, emoji: string, userId: string, added: boolean},
 *   deleted: {conversationId: string, messageId: string, scope: 'everyone' | 'me'},
 *   event: any,
 *   reply: Message,
 *   refused: {ref: string, code?: string, message?: string},
 *   'open-thread': {conversationId: string, rootId: string, opener?: HTMLElement | null},
 *   'reply-privately': Message,
 *   'open-message': Message,
 *   threads: void,
 *   sessions: void,
 *   permissions: void,
 * }} Notices
 */

/** @type {Map<keyof Notices, ((payload: any) => void)[]>} */
const subscribers = new Map();

/**
 * Calls `fn` with every notice of this kind, for as long as the page lives (subscribers check `state`).
 * @template {keyof Notices} K
 * @param {K} kind
 * @param {(payload: Notices[K]) => void} fn
 */
export function subscribe(kind, fn) {
  if (!subscribers.has(kind)) subscribers.set(kind, []);
  subscribers.get(kind).push(fn);
}

/**
 * Tells every subscriber, in the order they subscribed.
 * @template {keyof Notices} K
 * @param {K} kind
 * @param {Notices[K]} [payload]
 */
export function publish(kind, payload) {
  for (const fn of subscribers.get(kind) || []) fn(payload);
}
