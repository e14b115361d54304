#!/usr/bin/env bash
# Makes N bench accounts straight in a PostgreSQL store, with sessions, and writes the bench's accounts file:
# N Argon2 sign-ups through the API take ~25 ms of a core each, too slow for the cluster's 50,000-socket run.
# The accounts work only as sessions (their password hash is not a hash). Run once against a store the
# nodes have migrated (start one node first).
#   bash scripts/bench-bulk-accounts.sh postgres://postgres@127.0.0.1:5432/parley_cluster 50000 /tmp/cl/acc.json
set -euo pipefail
url=${1:?store URL}
n=${2:?number of accounts}
out=${3:?accounts file to write}
psql "$url" -v ON_ERROR_STOP=1 -q <<SQL
INSERT INTO orgs (handle, created_at) VALUES ('bulk', 0) ON CONFLICT DO NOTHING;
INSERT INTO users (org_id, username, email, name, name_folded, password_hash, created_at)
SELECT o.id, 'bulk' || g, 'bulk' || g || '@bench.example.org', 'Bulk ' || g, 'bulk ' || g, '-', 0
FROM generate_series(1, $n) AS g CROSS JOIN orgs AS o
WHERE o.handle = 'bulk'
ON CONFLICT DO NOTHING;
-- A token is 43 characters; each account's is its username padded with 'A'.
-- Sessions expire when unused or old: these start now.
INSERT INTO sessions (token_hash, user_id, created_at, last_used_at)
SELECT sha256(convert_to(rpad(u.username || '-', 43, 'A'), 'UTF8')), u.id,
       (extract(epoch FROM now()) * 1000)::BIGINT, (extract(epoch FROM now()) * 1000)::BIGINT
FROM users AS u JOIN orgs AS o ON o.id = u.org_id
WHERE o.handle = 'bulk'
ON CONFLICT DO NOTHING;
SQL
psql "$url" -At -v ON_ERROR_STOP=1 -c "
SELECT json_build_object('prefix', 'bulk', 'accounts', coalesce(json_agg(json_build_object(
    'user_id', u.id::text, 'token', rpad(u.username || '-', 43, 'A')) ORDER BY u.id), '[]'))
FROM users AS u JOIN orgs AS o ON o.id = u.org_id
WHERE o.handle = 'bulk' AND u.username ~ '^bulk[0-9]+$' AND substr(u.username, 5)::bigint <= $n" > "$out"
echo "$n accounts in $out"
