#!/usr/bin/env bash
# History reads with and without a read replica (issue 20). Makes, once, a PostgreSQL primary and a streaming
# replica of it (initdb, then pg_basebackup; ports 25432 and 25433, data in /tmp/pb; run as root it runs them
# as the postgres user), starts one `parley` node on the primary, with --store-replica or without, runs
# `parley-bench history` against it with the flags given after the mode, the servers' postmasters given so
# the report has each one's CPU per page read.
#   bash scripts/bench-replica.sh ./target/release/parley ./target/release/parley-bench with|without [FLAGS]
# `stop` as the mode stops both PostgreSQL servers and removes /tmp/pb.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SERVER=${1:?the parley binary}
BENCH=${2:?the parley-bench binary}
mode=${3:?with, without or stop}
shift 3
PORT=18801
URL=http://127.0.0.1:$PORT
# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh
dir=/tmp/pb

if [ "$mode" = stop ]; then
    pg pg_ctl -D $dir/replica -m fast stop || true
    pg pg_ctl -D $dir/primary -m fast stop || true
    rm -rf $dir
    exit 0
fi

if [ ! -d $dir/replica ]; then
    mkdir -p $dir
    [ -z "${as_postgres[*]}" ] || chown postgres:postgres $dir
    pg initdb -D $dir/primary -A trust -U postgres > $dir/initdb.log
    cat >> $dir/primary/postgresql.conf <<CONF
listen_addresses = '127.0.0.1'
port = 25432
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 4
max_connections = 200
CONF
    echo "host replication all 127.0.0.1/32 trust" >> $dir/primary/pg_hba.conf
    pg pg_ctl -D $dir/primary -l $dir/primary.log -w start > /dev/null
    pg pg_basebackup -h 127.0.0.1 -p 25432 -U postgres -D $dir/replica -R -X stream -c fast
    echo "port = 25433" >> $dir/replica/postgresql.conf
    pg pg_ctl -D $dir/replica -l $dir/replica.log -w start > /dev/null
fi

psql -h 127.0.0.1 -p 25432 -U postgres -qc "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public" postgres
rm -rf $dir/node
mkdir -p $dir/node
config=$dir/node/limits.toml
bench_limits "$config"
if [ "$mode" = with ]; then
    echo 'store_replicas = ["postgres://postgres@127.0.0.1:25433/postgres"]' >> "$config"
fi
echo 'store = "postgres://postgres@127.0.0.1:25432/postgres"' >> "$config"
serve_with $dir/node/data "$config" $dir/node.log
"$BENCH" --url $URL --server-pid "$PID" history \
    --primary-pid "$(head -1 $dir/primary/postmaster.pid)" --replica-pid "$(head -1 $dir/replica/postmaster.pid)" "$@"
# What the node counted: where reads went and how many samples of the primary's position it took.
curl -s $URL/metrics | grep -E '^parley_store_(routed_reads|position_samples|replica_read_failures)' || true
