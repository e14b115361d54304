-- Notifications for people who are away (the notifier, parley_core::service::notify).

-- Where a user's devices are told: kind 0 a Web Push subscription (endpoint, p256dh, auth), 1 a webhook
-- (endpoint, secret). It belongs to the session that made it (the SHA-256 of its token): logout removes it.
CREATE TABLE push_subscriptions (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL,
    session_hash  BLOB NOT NULL,
    kind          INTEGER NOT NULL,
    endpoint      TEXT NOT NULL,
    p256dh        TEXT,
    auth          TEXT,
    secret        TEXT,
    created_at    INTEGER NOT NULL,
    UNIQUE (user_id, endpoint)
);
CREATE INDEX push_subscriptions_of_sessions ON push_subscriptions (session_hash);

-- Users are split into 16 shards by id; each shard's cursor says how far the log has been decided for its
-- users, and one node at a time holds it (until lease_until, renewed while it lives).
CREATE TABLE notify_shards (
    shard        INTEGER PRIMARY KEY,
    cursor       INTEGER NOT NULL,
    owner        TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0
);
-- The log written before this version is not notified of.
WITH RECURSIVE n (shard) AS (SELECT 0 UNION ALL SELECT shard + 1 FROM n WHERE shard < 15)
INSERT INTO notify_shards (shard, cursor) SELECT shard, (SELECT coalesce(max(cursor), 0) FROM events) FROM n;

-- Notifications decided, waiting out their delay (or quiet hours) until due_at.
CREATE TABLE notify_pending (
    user_id          INTEGER NOT NULL,
    message_id       INTEGER NOT NULL,
    conversation_id  INTEGER NOT NULL,
    thread_root_id   INTEGER,
    shard            INTEGER NOT NULL,
    sent_at          INTEGER NOT NULL,
    due_at           INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;
CREATE INDEX notify_pending_due ON notify_pending (shard, due_at);
CREATE INDEX notify_pending_of_conversations ON notify_pending (user_id, conversation_id, message_id);

-- A notification on its way to one subscription, until its push service or webhook accepts it.
CREATE TABLE push_deliveries (
    id               INTEGER PRIMARY KEY,
    subscription_id  INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    shard            INTEGER NOT NULL,
    conversation_id  INTEGER NOT NULL,
    message_id       INTEGER,
    notification_id  TEXT NOT NULL,
    payload          TEXT NOT NULL,
    topic            TEXT NOT NULL,
    urgency          TEXT NOT NULL,
    sent_at          INTEGER NOT NULL,
    first_at         INTEGER NOT NULL,
    next_at          INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX push_deliveries_due ON push_deliveries (shard, next_at);
CREATE INDEX push_deliveries_of_subscriptions ON push_deliveries (subscription_id);
CREATE INDEX push_deliveries_of_messages ON push_deliveries (message_id) WHERE message_id IS NOT NULL;

-- Deliveries given up on (after a day of retries, or refused), for the operator.
CREATE TABLE push_failures (
    id               INTEGER PRIMARY KEY,
    subscription_id  INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    notification_id  TEXT NOT NULL,
    reason           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    failed_at        INTEGER NOT NULL
);

-- Conversations whose notification shows on a user's devices: reading one there sends a clear.
CREATE TABLE push_shown (
    user_id          INTEGER NOT NULL,
    conversation_id  INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) WITHOUT ROWID;

-- Quiet hours: minutes after midnight in the user's time zone.
ALTER TABLE users ADD COLUMN quiet_start INTEGER;
ALTER TABLE users ADD COLUMN quiet_end INTEGER;
ALTER TABLE users ADD COLUMN quiet_time_zone TEXT;

-- Whether pushes carry a preview of the text (else ids only, and the client fetches the message).
ALTER TABLE orgs ADD COLUMN push_previews INTEGER NOT NULL DEFAULT 1;
