#!/usr/bin/env bash
# Moving an organization of 100,000 messages to another shard while its people use it (issue 20). Makes,
# once, a PostgreSQL server with wal_level = logical (initdb; port 25434, data in /tmp/pm; run as root it
# runs it as the postgres user), its databases shard0 and shard1 afresh each run, and one `parley` node on
# them. Fills the bench's organization (`default`) with `parley-bench ingest` until it holds MESSAGES
# messages, then runs `parley-bench moving` and, 5 s into it, `parley admin move-org default --to 1`: the
# move's output says how long the copy took and how long requests were held, the bench's report what the
# senders and a resuming listener saw.
#   bash scripts/bench-move.sh ./target/release/parley ./target/release/parley-bench [MESSAGES]
# `stop` as the only argument stops the PostgreSQL server and removes /tmp/pm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=/tmp/pm
# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh

if [ "${1:-}" = stop ]; then
    pg pg_ctl -D $dir/data -m fast stop || true
    rm -rf $dir
    exit 0
fi
SERVER=${1:?the parley binary}
BENCH=${2:?the parley-bench binary}
messages=${3:-100000}
PORT=18803
URL=http://127.0.0.1:$PORT

if [ ! -d $dir/data ]; then
    mkdir -p $dir
    [ -z "${as_postgres[*]}" ] || chown postgres:postgres $dir
    pg initdb -D $dir/data -A trust -U postgres > $dir/initdb.log
    cat >> $dir/data/postgresql.conf <<CONF
listen_addresses = '127.0.0.1'
port = 25434
unix_socket_directories = '$dir'
wal_level = logical
max_connections = 200
CONF
    pg pg_ctl -D $dir/data -l $dir/server.log -w start > /dev/null
fi
sql() { psql -h 127.0.0.1 -p 25434 -U postgres -qAtc "$1" "${2:-postgres}"; }
for db in shard0 shard1; do
    # A slot or subscription of an earlier run that did not finish would keep its database.
    sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db'" > /dev/null
    sql "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    sql "CREATE DATABASE $db"
done
shard0=postgres://postgres@127.0.0.1:25434/shard0
shard1=postgres://postgres@127.0.0.1:25434/shard1

run=$(mktemp -d)
config=$run/limits.toml
bench_limits "$config"
echo "store = \"$shard0\"" >> "$config"
echo "store_shards = [\"$shard1\"]" >> "$config"
serve_with "$run/data" "$config" "$run/node.log"
accounts=(--accounts "$run/accounts.json")

while [ "$(sql 'SELECT count(*) FROM messages' shard0)" -lt "$messages" ]; do
    "$BENCH" --url $URL "${accounts[@]}" --quiet ingest --senders 100 --seconds 10 > /dev/null
done
echo "the organization holds $(sql 'SELECT count(*) FROM messages' shard0) messages and \
$(sql 'SELECT count(*) FROM events' shard0) events"

"$BENCH" --url $URL "${accounts[@]}" --server-pid "$PID" moving --seconds "${MOVING_SECONDS:-60}" &
load=$!
sleep 5
"$SERVER" admin --store "$shard0" --store-shard "$shard1" move-org default --to 1
wait $load
echo "after the move: shard0 holds $(sql 'SELECT count(*) FROM messages' shard0) messages, \
shard1 $(sql 'SELECT count(*) FROM messages' shard1)"
stop
rm -rf "$run"
