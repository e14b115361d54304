-- Parley's schema on PostgreSQL: the same tables as on SQLite. Ids come from sequences; message ids and event
-- cursors are taken inside the writer's turn (see `postgres/writer.rs`), so they grow in commit order across
-- every node.

CREATE TABLE orgs (
    id          BIGSERIAL PRIMARY KEY,
    handle      TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id              BIGSERIAL PRIMARY KEY,
    org_id          BIGINT NOT NULL REFERENCES orgs (id),
    username        TEXT NOT NULL,
    email           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    -- `name` lowercased by Rust (full Unicode), for case-insensitive prefix search.
    name_folded     TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    avatar_version  BIGINT,
    last_seen       BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (org_id, username)
);
CREATE INDEX users_by_name ON users (org_id, name_folded text_pattern_ops);
CREATE INDEX users_by_username ON users (org_id, username text_pattern_ops);

CREATE TABLE sessions (
    token_hash  BYTEA PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE contacts (
    owner_id    BIGINT NOT NULL REFERENCES users (id),
    contact_id  BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (owner_id, contact_id)
);

CREATE TABLE conversations (
    id             BIGSERIAL PRIMARY KEY,
    org_id         BIGINT NOT NULL REFERENCES orgs (id),
    kind           TEXT NOT NULL CHECK (kind IN ('dm', 'group', 'channel')),
    name           TEXT,
    handle         TEXT,
    topic          TEXT,
    private        BOOLEAN NOT NULL DEFAULT FALSE,
    -- "low:high" user ids of a DM, so a pair has at most one.
    dm_key         TEXT,
    created_by     BIGINT NOT NULL REFERENCES users (id),
    created_at     BIGINT NOT NULL,
    member_count   BIGINT NOT NULL DEFAULT 0,
    last_activity  BIGINT NOT NULL
);
CREATE UNIQUE INDEX conversations_by_handle ON conversations (org_id, handle) WHERE handle IS NOT NULL;
CREATE UNIQUE INDEX conversations_by_dm_key ON conversations (org_id, dm_key) WHERE dm_key IS NOT NULL;

CREATE TABLE members (
    conversation_id  BIGINT NOT NULL REFERENCES conversations (id),
    user_id          BIGINT NOT NULL REFERENCES users (id),
    muted            BOOLEAN NOT NULL DEFAULT FALSE,
    notify_always    BOOLEAN NOT NULL DEFAULT FALSE,
    last_read        BIGINT,
    joined_at        BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id, conversation_id);

CREATE TABLE messages (
    id               BIGSERIAL PRIMARY KEY,
    conversation_id  BIGINT NOT NULL REFERENCES conversations (id),
    author_id        BIGINT NOT NULL REFERENCES users (id),
    -- NULL once deleted for everyone.
    text             TEXT,
    nonce            TEXT,
    created_at       BIGINT NOT NULL,
    deleted          BOOLEAN NOT NULL DEFAULT FALSE,
    -- PostgreSQL's own text search: the 'simple' configuration (no stemming, so any language; words lower
    -- cased, accents kept). Erasing the text empties it.
    search           TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', coalesce(text, ''))) STORED
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE UNIQUE INDEX messages_by_nonce ON messages (conversation_id, author_id, nonce) WHERE nonce IS NOT NULL;
CREATE INDEX messages_search ON messages USING GIN (search);

CREATE TABLE hidden_messages (
    user_id     BIGINT NOT NULL REFERENCES users (id),
    message_id  BIGINT NOT NULL REFERENCES messages (id),
    PRIMARY KEY (user_id, message_id)
);

CREATE TABLE reactions (
    message_id  BIGINT NOT NULL REFERENCES messages (id),
    emoji       TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

-- The event log: one row per durable change, holding ids only (never message text), in commit order.
CREATE TABLE events (
    cursor           BIGSERIAL PRIMARY KEY,
    conversation_id  BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    user_id          BIGINT,
    message_id       BIGINT,
    emoji            TEXT,
    -- NULL: for every member; else only for this user's own devices.
    private_to       BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX events_by_conversation ON events (conversation_id, cursor);
CREATE INDEX events_by_private_user ON events (private_to, cursor) WHERE private_to IS NOT NULL;
CREATE INDEX events_by_leaver ON events (user_id, cursor) WHERE kind = 'member.left';
CREATE INDEX events_by_time ON events (created_at);

-- The writers' turn: the newest cursor whose commit was handed to the bus. A writer that finds the log
-- ahead of it knows the writer before it died between its commit and its publish, and publishes those
-- events again (see `postgres/writer.rs`).
CREATE TABLE published (
    only_row  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    cursor    BIGINT NOT NULL
);
INSERT INTO published (cursor) VALUES (0);
