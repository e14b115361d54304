-- Single sign-on: an organization's OpenID provider, the sign-ins under way (by the SHA-256 of their
-- `state`, deleted as they finish or expire), and which account each identity at a provider signs in to.
CREATE TABLE sso_configs (
    org_id         INTEGER PRIMARY KEY REFERENCES orgs (id),
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    link_by_email  INTEGER NOT NULL,
    required       INTEGER NOT NULL
);

CREATE TABLE sso_flows (
    state_hash     BLOB PRIMARY KEY,
    flow_key_hash  BLOB NOT NULL,
    org_id         INTEGER NOT NULL REFERENCES orgs (id),
    issuer         TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX sso_flows_by_age ON sso_flows (created_at);

CREATE TABLE sso_identities (
    org_id      INTEGER NOT NULL REFERENCES orgs (id),
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, issuer, subject)
);
