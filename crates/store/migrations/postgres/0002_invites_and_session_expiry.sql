-- Organizations are joined by invitation unless they open themselves to sign-up; sessions expire when
-- unused for a while or past a lifetime, counted from `last_used_at` and `created_at`.
ALTER TABLE orgs ADD COLUMN open_signup BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE sessions ADD COLUMN last_used_at BIGINT;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_used_at SET NOT NULL;
-- "Log out everywhere" and pruning find sessions by user and by age.
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE invites (
    id          BIGSERIAL PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    -- SHA-256 of the token; the token itself is shown once, to its maker.
    token_hash  BYTEA NOT NULL UNIQUE,
    created_by  BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    max_uses    INTEGER NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invites_by_creator ON invites (created_by, id);
