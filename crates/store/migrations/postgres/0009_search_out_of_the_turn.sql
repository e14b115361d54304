-- The text-search entry of a message moves out of the message's row, and out of the cluster-wide turn that
-- stores it: a generated `tsvector` column and its GIN index cost ~21 of a send's ~138 µs inside the turn
-- (BENCHMARKS.md). `message_search` holds the entries; a node's indexer fills it after the commits
-- (`postgres/search_index.rs`) and moves `search_indexed` to the newest message it has indexed. Ids grow in
-- commit order across the cluster, so every message above that mark is one the indexer has yet to reach, and
-- a search reads those from the messages themselves: whatever was acknowledged is found at once.
--
-- An edit or an erase writes the message's entry itself (an upsert), whether or not the indexer has reached
-- it: the entry's key makes the two wait for each other, so neither can leave an older text behind. Deleting
-- a message deletes its entry (the foreign key).
CREATE TABLE message_search (
    message_id  BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    search      TSVECTOR NOT NULL
);
INSERT INTO message_search (message_id, search) SELECT id, search FROM messages WHERE text IS NOT NULL;
CREATE INDEX message_search_words ON message_search USING GIN (search);

CREATE TABLE search_indexed (
    only_row    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    message_id  BIGINT NOT NULL
);
INSERT INTO search_indexed (message_id) SELECT coalesce(max(id), 0) FROM messages;

DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
