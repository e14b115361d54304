-- Conversations as people use them: edits (earlier versions kept), threads one level deep, mentions kept as
-- data, pins and quotes.

ALTER TABLE messages ADD COLUMN edited_at INTEGER;
-- A reply: its thread's first message. Replies stay out of the main history unless `also_to_conversation`.
ALTER TABLE messages ADD COLUMN thread_root_id INTEGER;
ALTER TABLE messages ADD COLUMN also_to_conversation INTEGER NOT NULL DEFAULT 0;
-- Who the message mentions: user ids as "1,2,3" for showing them; `mentions` indexes them for each user.
-- `@channel` and `@here` are kept once, here, never as a row per member.
ALTER TABLE messages ADD COLUMN mention_ids TEXT;
ALTER TABLE messages ADD COLUMN mention_channel INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN mention_here INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN quote_conversation_id INTEGER;
ALTER TABLE messages ADD COLUMN quote_message_id INTEGER;
-- On a thread's root: its counters, moved in the transaction of each reply; `repliers` as "1,2,3".
ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_at INTEGER;
ALTER TABLE messages ADD COLUMN repliers TEXT;

CREATE INDEX messages_by_thread ON messages (thread_root_id, id) WHERE thread_root_id IS NOT NULL;
CREATE INDEX messages_mentioning_all ON messages (conversation_id, id)
    WHERE mention_channel = 1 OR mention_here = 1;

CREATE TABLE mentions (
    user_id          INTEGER NOT NULL,
    conversation_id  INTEGER NOT NULL,
    message_id       INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id, message_id)
) WITHOUT ROWID;
CREATE INDEX mentions_by_message ON mentions (message_id);
CREATE INDEX mentions_by_user ON mentions (user_id, message_id);

-- The text a message had before each edit. Erased with the message.
CREATE TABLE message_edits (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    text        TEXT NOT NULL,
    written_at  INTEGER NOT NULL
);
CREATE INDEX message_edits_by_message ON message_edits (message_id, id);

CREATE TABLE pins (
    conversation_id  INTEGER NOT NULL,
    message_id       INTEGER NOT NULL,
    pinned_by        INTEGER NOT NULL,
    pinned_at        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
) WITHOUT ROWID;

-- Who follows which thread: its root's author, each replier, whoever a reply mentions, and whoever asked.
-- `following = 0` keeps an unfollow, so only the user's own reply or a mention makes them follow again.
CREATE TABLE thread_follows (
    user_id          INTEGER NOT NULL,
    root_id          INTEGER NOT NULL,
    conversation_id  INTEGER NOT NULL,
    following        INTEGER NOT NULL,
    last_read        INTEGER,
    PRIMARY KEY (user_id, root_id)
) WITHOUT ROWID;

-- A change of an indexed message's text takes its old words out of the search index and puts its new ones
-- in, in that order, in one trigger: an edit of "hello wrld" to "hello world" keeps "hello". An erase
-- (text NULL) only takes the old words out.
DROP TRIGGER messages_fts_erase;
CREATE TRIGGER messages_fts_change AFTER UPDATE OF text ON messages
WHEN old.id <= (SELECT message_id FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL;
    INSERT INTO messages_fts (rowid, text) SELECT new.id, new.text WHERE new.text IS NOT NULL;
END;
