-- The directory of a cluster whose organizations live on several shards (`postgres/directory.rs`). Only the
-- first shard's database uses these tables; on every other shard they stay empty.

-- Which shard each organization lives on. A row without `org_id` is a placement: the organization's first
-- sign-up is on its way to that shard.
CREATE TABLE directory_orgs (
    handle  TEXT PRIMARY KEY,
    org_id  BIGINT UNIQUE,
    shard   INTEGER NOT NULL
);
CREATE INDEX directory_orgs_by_shard ON directory_orgs (shard) WHERE org_id IS NOT NULL;

-- Which organization each email address belongs to. A claim not `bound` is a sign-up under way; one older
-- than ten minutes has lapsed.
CREATE TABLE directory_emails (
    email       TEXT PRIMARY KEY,
    org_handle  TEXT NOT NULL,
    bound       BOOLEAN NOT NULL,
    claimed_at  BIGINT NOT NULL
);

-- Present once the organizations and accounts this database held before it was a shard are in the
-- directory.
CREATE TABLE directory_filled (
    only_row  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row)
);
