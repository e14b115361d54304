-- The text-search entry of a message moves out of the message's row, and out of the cluster-wide turn that
-- stores it: a generated `tsvector` column and its GIN index cost ~21 of a send's ~138 µs inside the turn
-- (BENCHMARKS.md). `message_search` holds the entries; a node's indexer fills it after the commits
-- (`postgres/search_index.rs`) and moves `search_indexed` to the newest message it has indexed. Ids grow in
-- commit order across the cluster, so every message above that mark is one the indexer has yet to reach, and
-- a search reads those from the messages themselves: whatever was acknowledged is found at once. Deleting a
-- message deletes its entry (the foreign key, added once the entries are in: one check for all of them).
CREATE TABLE message_search (
    message_id  BIGINT PRIMARY KEY,
    search      TSVECTOR NOT NULL
);
INSERT INTO message_search (message_id, search) SELECT id, search FROM messages WHERE text IS NOT NULL;
ALTER TABLE message_search ADD FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE;
CREATE INDEX message_search_words ON message_search USING GIN (search);
ANALYZE message_search;

CREATE TABLE search_indexed (
    only_row    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    message_id  BIGINT NOT NULL
);
INSERT INTO search_indexed (message_id) SELECT coalesce(max(id), 0) FROM messages;

-- The version before this one searches `messages.search`, and nodes of both versions run side by side during
-- a rolling upgrade (docs/operations.md): the column stays, no longer computed, so a new message leaves it
-- empty, and its index holds the messages stored before this migration only (an index of the empty column
-- cost a send ~4 µs in the turn). Nodes of the version before find those until they are replaced; the next
-- major version drops the column.
ALTER TABLE messages ALTER COLUMN search DROP EXPRESSION;
CREATE INDEX messages_search_before ON messages USING GIN (search) WHERE search IS NOT NULL;
DROP INDEX messages_search;

-- Whenever a message's text changes (an edit, an erase, a purge that keeps a tombstone), on a node of either
-- version, its entry takes the new text, whether or not the indexer has reached the message: the entry's key
-- makes the two wait for each other, so neither can leave an older text behind. The old column forgets the
-- old text.
CREATE FUNCTION message_search_follow_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := NULL;
    INSERT INTO message_search (message_id, search)
    VALUES (NEW.id, to_tsvector('simple', coalesce(NEW.text, '')))
    ON CONFLICT (message_id) DO UPDATE SET search = excluded.search;
    RETURN NEW;
END
$$;
CREATE TRIGGER messages_text_changed BEFORE UPDATE OF text ON messages
FOR EACH ROW WHEN (NEW.text IS DISTINCT FROM OLD.text) EXECUTE FUNCTION message_search_follow_text();
