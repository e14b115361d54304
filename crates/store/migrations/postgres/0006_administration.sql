-- Running an organization: every person has a role (the first of each organization is its owner), an
-- administrator may deactivate an account (kept for its history, never deleted), a session remembers the
-- device it was made on, and the audit log records security and administration events, append-only.
-- Channels have owners (the creator first) and moderators, can be archived (read-only, out of the
-- directory), and a message a moderator deleted says so.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'admin', 'member', 'guest'));
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
UPDATE users SET role = 'owner' WHERE id IN (SELECT MIN(id) FROM users GROUP BY org_id);
-- The people list pages an org's users by id.
CREATE INDEX users_by_org ON users (org_id, id);

ALTER TABLE sessions ADD COLUMN device TEXT;

CREATE TABLE audit_log (
    id                      BIGSERIAL PRIMARY KEY,
    org_id                  BIGINT NOT NULL REFERENCES orgs (id),
    at                      BIGINT NOT NULL,
    kind                    TEXT NOT NULL,
    outcome                 TEXT NOT NULL,
    -- NULL for the server's operator, or an account that does not exist.
    actor_id                BIGINT,
    target_user_id          BIGINT,
    target_conversation_id  BIGINT,
    address                 TEXT,
    detail                  TEXT
);
CREATE INDEX audit_by_org ON audit_log (org_id, id);
CREATE INDEX audit_by_actor ON audit_log (org_id, actor_id, id);
CREATE INDEX audit_by_kind ON audit_log (org_id, kind, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'moderator', 'member'));
UPDATE members SET role = 'owner'
WHERE (conversation_id, user_id) IN (SELECT id, created_by FROM conversations WHERE kind = 'channel');
ALTER TABLE conversations ADD COLUMN archived BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN removed_by_moderator BOOLEAN NOT NULL DEFAULT false;

-- An organization's settings. `signup` stays NULL until an administrator chooses: till then the server's
-- `open_signup` and the org's own `open_signup` decide, as before.
ALTER TABLE orgs ADD COLUMN signup TEXT CHECK (signup IN ('open', 'invite_only', 'email_domains'));
-- Space-separated, lowercase.
ALTER TABLE orgs ADD COLUMN email_domains TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN channel_creation TEXT NOT NULL DEFAULT 'everyone';
ALTER TABLE orgs ADD COLUMN invitations TEXT NOT NULL DEFAULT 'everyone';
ALTER TABLE orgs ADD COLUMN channel_mentions TEXT NOT NULL DEFAULT 'everyone';
CREATE TABLE org_default_channels (
    org_id           BIGINT NOT NULL REFERENCES orgs (id),
    conversation_id  BIGINT NOT NULL REFERENCES conversations (id),
    PRIMARY KEY (org_id, conversation_id)
);
