-- Uploads and the files they become (the bytes are in object storage, under keys made from the id).
-- state: 0 pending, 1 complete, 2 on a message, 3 erased (objects to delete, then the row).
-- image_state: 0 not a picture, 1 preview to make, 2 preview made (JPEG), 3 refused, 4 preview made (PNG).
CREATE TABLE files (
    id               INTEGER PRIMARY KEY,
    org_id           INTEGER NOT NULL,
    owner_id         INTEGER NOT NULL,
    name             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    state            INTEGER NOT NULL DEFAULT 0,
    content_type     TEXT,
    sha256           BLOB,
    image_state      INTEGER NOT NULL DEFAULT 0,
    width            INTEGER,
    height           INTEGER,
    thumb_width      INTEGER,
    thumb_height     INTEGER,
    conversation_id  INTEGER,
    message_id       INTEGER,
    position         INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX files_of_messages ON files (message_id, position) WHERE message_id IS NOT NULL;
-- Search by file name, among the conversations of whoever searches.
CREATE INDEX files_of_conversations ON files (conversation_id, message_id) WHERE state = 2;
-- An organization's quota sums its sizes from this index alone.
CREATE INDEX files_of_orgs ON files (org_id, state, size);
CREATE INDEX files_to_collect ON files (state, created_at) WHERE state <> 2;
CREATE INDEX files_to_preview ON files (id) WHERE image_state = 1;
