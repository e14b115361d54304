-- Conversations as people use them: edits (earlier versions kept), threads one level deep, mentions kept as
-- data, pins and quotes.

ALTER TABLE messages ADD COLUMN edited_at BIGINT;
-- A reply: its thread's first message. Replies stay out of the main history unless `also_to_conversation`.
ALTER TABLE messages ADD COLUMN thread_root_id BIGINT;
ALTER TABLE messages ADD COLUMN also_to_conversation BOOLEAN NOT NULL DEFAULT FALSE;
-- Who the message mentions, for showing them; `mentions` indexes them for each user. `@channel` and
-- `@here` are kept once, here, never as a row per member.
ALTER TABLE messages ADD COLUMN mention_ids BIGINT[];
ALTER TABLE messages ADD COLUMN mention_channel BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN mention_here BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN quote_conversation_id BIGINT;
ALTER TABLE messages ADD COLUMN quote_message_id BIGINT;
-- On a thread's root: its counters, moved in the transaction of each reply.
ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_at BIGINT;
ALTER TABLE messages ADD COLUMN repliers BIGINT[];

CREATE INDEX messages_by_thread ON messages (thread_root_id, id) WHERE thread_root_id IS NOT NULL;
CREATE INDEX messages_mentioning_all ON messages (conversation_id, id) WHERE mention_channel OR mention_here;

CREATE TABLE mentions (
    user_id          BIGINT NOT NULL,
    conversation_id  BIGINT NOT NULL,
    message_id       BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, message_id)
);
CREATE INDEX mentions_by_message ON mentions (message_id);
CREATE INDEX mentions_by_user ON mentions (user_id, message_id);

-- The text a message had before each edit. Erased with the message.
CREATE TABLE message_edits (
    id          BIGSERIAL PRIMARY KEY,
    message_id  BIGINT NOT NULL REFERENCES messages (id),
    text        TEXT NOT NULL,
    written_at  BIGINT NOT NULL
);
CREATE INDEX message_edits_by_message ON message_edits (message_id, id);

CREATE TABLE pins (
    conversation_id  BIGINT NOT NULL,
    message_id       BIGINT NOT NULL,
    pinned_by        BIGINT NOT NULL,
    pinned_at        BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
);

-- Who follows which thread: its root's author, each replier, whoever a reply mentions, and whoever asked.
-- `following = false` keeps an unfollow, so only the user's own reply or a mention makes them follow again.
CREATE TABLE thread_follows (
    user_id          BIGINT NOT NULL,
    root_id          BIGINT NOT NULL,
    conversation_id  BIGINT NOT NULL,
    following        BOOLEAN NOT NULL,
    last_read        BIGINT,
    PRIMARY KEY (user_id, root_id)
);
