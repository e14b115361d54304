-- Single sign-on: an organization's OpenID provider, the sign-ins under way (by the SHA-256 of their
-- `state`, deleted as they finish or expire), and which account each identity at a provider signs in to.
CREATE TABLE sso_configs (
    org_id         BIGINT PRIMARY KEY REFERENCES orgs (id),
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    link_by_email  BOOLEAN NOT NULL,
    required       BOOLEAN NOT NULL
);

CREATE TABLE sso_flows (
    state_hash     BYTEA PRIMARY KEY,
    flow_key_hash  BYTEA NOT NULL,
    org_id         BIGINT NOT NULL REFERENCES orgs (id),
    issuer         TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX sso_flows_by_age ON sso_flows (created_at);

CREATE TABLE sso_identities (
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, issuer, subject)
);
