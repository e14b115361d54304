-- Retention: an organization keeps messages for ever (0) or `retention_days`; where `channel_retention`
-- allows it, a channel keeps them for its own `retention_days` (NULL: the organization's). The purge job
-- records its last run per organization.
ALTER TABLE orgs ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN channel_retention BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE conversations ADD COLUMN retention_days INTEGER;

CREATE TABLE purge_runs (
    org_id         BIGINT PRIMARY KEY REFERENCES orgs (id),
    started_at     BIGINT NOT NULL,
    finished_at    BIGINT,
    messages       BIGINT NOT NULL,
    files          BIGINT NOT NULL,
    conversations  BIGINT NOT NULL
);

-- A purge deletes hides by message,
CREATE INDEX hidden_messages_by_message ON hidden_messages (message_id);
-- and thread follows by their thread.
CREATE INDEX thread_follows_by_root ON thread_follows (root_id);
-- The purge (and an export) walks an organization's conversations.
CREATE INDEX conversations_by_org ON conversations (org_id, id);
