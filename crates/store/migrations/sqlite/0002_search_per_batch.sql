-- Messages are indexed for search once per write batch, not by a trigger per message: FTS5 writes its pending
-- index data to disk at every statement that touches it inside a transaction, so the trigger made one index
-- segment per message (measured: a fifth of the writer thread's time). The writer indexes every message
-- above `search_indexed.message_id` just before each commit, in the same transaction, so a committed message
-- is always searchable. (Since issue 19 it does so at most 250 ms after a commit, and before any search: the
-- writer's deferred work in src/sqlite/connection.rs.)
DROP TRIGGER messages_fts_insert;

CREATE TABLE search_indexed (
    message_id  INTEGER NOT NULL
);
INSERT INTO search_indexed (message_id) SELECT coalesce(max(id), 0) FROM messages;

-- An erase removes the words from the index only if they were indexed: a message erased in the batch that
-- created it has no index entry yet (and, its text gone, never gets one).
DROP TRIGGER messages_fts_erase;
CREATE TRIGGER messages_fts_erase AFTER UPDATE OF text ON messages
WHEN old.text IS NOT NULL AND old.id <= (SELECT message_id FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
