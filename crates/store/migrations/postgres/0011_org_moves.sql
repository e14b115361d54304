-- Moving an organization to another shard (`postgres/org_move.rs`, `parley admin move-org`). PostgreSQL's
-- logical replication copies it, through a publication whose row filters name the organization: a filter
-- can read only its own row, so every table of an organization's rows gets an `org_id`. It is filled for the
-- moving organization's rows when a move starts, and by `org_move_guard` for every row written while one
-- runs; outside a move it is left empty (and costs a send nothing).
ALTER TABLE contacts ADD COLUMN org_id BIGINT;
ALTER TABLE events ADD COLUMN org_id BIGINT;
ALTER TABLE hidden_messages ADD COLUMN org_id BIGINT;
ALTER TABLE members ADD COLUMN org_id BIGINT;
ALTER TABLE mentions ADD COLUMN org_id BIGINT;
ALTER TABLE message_edits ADD COLUMN org_id BIGINT;
ALTER TABLE message_search ADD COLUMN org_id BIGINT;
ALTER TABLE messages ADD COLUMN org_id BIGINT;
ALTER TABLE notify_pending ADD COLUMN org_id BIGINT;
ALTER TABLE pins ADD COLUMN org_id BIGINT;
ALTER TABLE push_deliveries ADD COLUMN org_id BIGINT;
ALTER TABLE push_failures ADD COLUMN org_id BIGINT;
ALTER TABLE push_shown ADD COLUMN org_id BIGINT;
ALTER TABLE push_subscriptions ADD COLUMN org_id BIGINT;
ALTER TABLE reactions ADD COLUMN org_id BIGINT;
ALTER TABLE sessions ADD COLUMN org_id BIGINT;
ALTER TABLE thread_follows ADD COLUMN org_id BIGINT;

-- The moves under way from this shard. `frozen_until` is set when the organization's writes stop for the
-- switch (until when, in milliseconds since 1970: a move that died freezes it no longer); every write of
-- the organization reads its row `FOR SHARE` (in `org_move_guard`), so setting it waits for the writes that
-- passed the check to commit, and refuses every later one. The row is published with the organization's:
-- once the target has this freeze's value, the target has every write before it.
CREATE TABLE org_moves (
    org_id        BIGINT PRIMARY KEY,
    target        INTEGER NOT NULL,
    frozen_until  BIGINT
);

-- Fires on the tables of organizations' rows while a move runs from this shard (the move adds and drops
-- the triggers): fills a new row's `org_id` from what it belongs to (`TG_ARGV[0]`: 'org' a row that has
-- its own, 'orgs' the organization itself, else the column whose row says: 'conversation_id',
-- 'message_id', 'user_id', 'owner_id'), and refuses any write of a frozen organization.
CREATE FUNCTION org_move_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    via TEXT := TG_ARGV[0];
    written JSONB;
    org BIGINT;
    frozen_until BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        written := to_jsonb(OLD);
    ELSE
        written := to_jsonb(NEW);
    END IF;
    IF via = 'orgs' THEN
        org := (written->>'id')::BIGINT;
    ELSE
        org := (written->>'org_id')::BIGINT;
        IF org IS NULL AND TG_OP <> 'DELETE' AND via <> 'org' THEN
            org := CASE via
                WHEN 'conversation_id' THEN
                    (SELECT c.org_id FROM conversations c WHERE c.id = (written->>via)::BIGINT)
                WHEN 'message_id' THEN
                    (SELECT c.org_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE m.id = (written->>via)::BIGINT)
                ELSE
                    (SELECT u.org_id FROM users u WHERE u.id = (written->>via)::BIGINT)
            END;
            NEW.org_id := org;
        END IF;
    END IF;
    IF org IS NOT NULL THEN
        SELECT m.frozen_until INTO frozen_until FROM org_moves m WHERE m.org_id = org FOR SHARE;
        IF frozen_until > (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT THEN
            RAISE EXCEPTION 'organization % is moving to another shard', org USING ERRCODE = 'PMV01';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

-- Set while a move switches the organization (until when, in milliseconds since 1970: a move that died
-- holds it no longer): routers hold its requests until the directory names its new shard. A move
-- announces every change to a row on the channel `parley_directory` (`NOTIFY`), with the organization's
-- id and handle, so every node forgets what it had cached of it.
ALTER TABLE directory_orgs ADD COLUMN held_until BIGINT;
