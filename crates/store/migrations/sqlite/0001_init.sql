-- Parley's embedded schema. Ids are SQLite rowids; AUTOINCREMENT where an id must never be reused, since
-- message ids and event cursors only ever grow.

CREATE TABLE orgs (
    id          INTEGER PRIMARY KEY,
    handle      TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs (id),
    username        TEXT NOT NULL,
    email           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    -- `name` lowercased by Rust (full Unicode), for case-insensitive prefix search; LIKE folds ASCII only.
    name_folded     TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    avatar_version  INTEGER,
    last_seen       INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (org_id, username)
);
CREATE INDEX users_by_name ON users (org_id, name_folded);

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE contacts (
    owner_id    INTEGER NOT NULL REFERENCES users (id),
    contact_id  INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (owner_id, contact_id)
) WITHOUT ROWID;

CREATE TABLE conversations (
    id             INTEGER PRIMARY KEY,
    org_id         INTEGER NOT NULL REFERENCES orgs (id),
    kind           TEXT NOT NULL CHECK (kind IN ('dm', 'group', 'channel')),
    name           TEXT,
    handle         TEXT,
    topic          TEXT,
    private        INTEGER NOT NULL DEFAULT 0,
    -- "low:high" user ids of a DM, so a pair has at most one.
    dm_key         TEXT,
    created_by     INTEGER NOT NULL REFERENCES users (id),
    created_at     INTEGER NOT NULL,
    member_count   INTEGER NOT NULL DEFAULT 0,
    last_activity  INTEGER NOT NULL
);
CREATE UNIQUE INDEX conversations_by_handle ON conversations (org_id, handle) WHERE handle IS NOT NULL;
CREATE UNIQUE INDEX conversations_by_dm_key ON conversations (org_id, dm_key) WHERE dm_key IS NOT NULL;

CREATE TABLE members (
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id),
    user_id          INTEGER NOT NULL REFERENCES users (id),
    muted            INTEGER NOT NULL DEFAULT 0,
    notify_always    INTEGER NOT NULL DEFAULT 0,
    last_read        INTEGER,
    joined_at        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members (user_id, conversation_id);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id),
    author_id        INTEGER NOT NULL REFERENCES users (id),
    -- NULL once deleted for everyone.
    text             TEXT,
    nonce            TEXT,
    created_at       INTEGER NOT NULL,
    deleted          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE UNIQUE INDEX messages_by_nonce ON messages (conversation_id, author_id, nonce) WHERE nonce IS NOT NULL;

CREATE TABLE hidden_messages (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;

CREATE TABLE reactions (
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    emoji       TEXT NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
) WITHOUT ROWID;

-- The event log: one row per durable change, holding ids only (never message text), in commit order.
CREATE TABLE events (
    cursor           INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    user_id          INTEGER,
    message_id       INTEGER,
    emoji            TEXT,
    -- NULL: for every member; else only for this user's own devices.
    private_to       INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX events_by_conversation ON events (conversation_id, cursor);
CREATE INDEX events_by_private_user ON events (private_to, cursor) WHERE private_to IS NOT NULL;
CREATE INDEX events_by_leaver ON events (user_id, cursor) WHERE kind = 'member.left';
CREATE INDEX events_by_time ON events (created_at);

-- Full-text index over message text. External content: the text lives only in `messages`.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
-- Without secure-delete, FTS5 'delete' only adds a marker and the erased words stay in the index.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_erase AFTER UPDATE OF text ON messages WHEN old.text IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
