#!/usr/bin/env bash
# Durable ingest on PostgreSQL, for comparing builds: each run is `parley-bench ingest --senders 500
# --seconds 10` against one node (local bus) on a fresh copy of the same database, and reads from the node's
# /metrics what one cluster-wide turn cost (`parley_store_batch_seconds` and `parley_store_batch_writes`,
# before and after the run).
#
#   bash scripts/bench-pg-ingest.sh ROUNDS SERVER_BINARY...
#
# Each round runs every binary once, in the order given, so that builds alternate (this machine's speed
# drifts from one minute to the next). PostgreSQL is the machine's (DATABASE_ADMIN_URL, by default
# postgres://postgres@127.0.0.1:5432, trust auth). The first run makes the database `ingest_template` with
# the first binary (a 2 s ingest makes its 500 DMs) and keeps it, with its accounts in
# target/bench-pg/accounts.json; each run copies it to `ingest_run` (`CREATE DATABASE ... TEMPLATE`), so a
# later build migrates its copy at start. Prints a line per run: acks/s, p99 ack, the server's CPU, how far
# the search indexer was behind when the run ended, and the turn.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS=$1
shift
cargo build --release -q -p parley-bench
BENCH=target/release/parley-bench
W=target/bench-pg
PG=${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
export PGOPTIONS="-c client_min_messages=warning"
PORT=18972
URL=http://127.0.0.1:$PORT
mkdir -p $W
source scripts/bench-server.sh
bench_limits $W/bench.toml

sql() { # DATABASE SQL
    psql "$PG/$1" -qtAc "$2"
}
serve() { # BINARY DATABASE
    SERVER=$1
    rm -rf $W/data
    mkdir -p $W/data
    "$SERVER" serve --listen 127.0.0.1:$PORT --data-dir $W/data --store "$PG/$2" --config $W/bench.toml \
        > $W/server.log 2>&1 &
    PID=$!
    for _ in $(seq 300); do
        curl -sf $URL/readyz > /dev/null && return
        sleep 0.1
    done
    echo "the server did not become ready (see $W/server.log)" >&2
    exit 1
}
metric() { # NAME
    curl -s $URL/metrics | awk -v m="$1" '$1 == m { print $2 }'
}

if [ "$(sql postgres "SELECT 1 FROM pg_database WHERE datname = 'ingest_template'")" != 1 ]; then
    sql postgres "CREATE DATABASE ingest_template"
    rm -f $W/accounts.json
    serve "$1" ingest_template
    "$BENCH" --url $URL --accounts $W/accounts.json --quiet ingest --senders 500 --seconds 2 > /dev/null
    stop
fi
for _ in $(seq "$ROUNDS"); do
    for binary in "$@"; do
        sql postgres "DROP DATABASE IF EXISTS ingest_run"
        sql postgres "CREATE DATABASE ingest_run TEMPLATE ingest_template"
        serve "$binary" ingest_run
        before=($(metric parley_store_batch_seconds_sum) $(metric parley_store_batch_seconds_count) \
            $(metric parley_store_batch_writes_sum))
        run=$("$BENCH" --url $URL --accounts $W/accounts.json --server-pid "$PID" --quiet \
            ingest --senders 500 --seconds 10 | tail -1)
        # Builds before the search indexer have no mark.
        behind=$(sql ingest_run "SELECT (SELECT max(id) FROM messages) - (SELECT message_id FROM search_indexed)" \
            2> /dev/null || echo -)
        after=($(metric parley_store_batch_seconds_sum) $(metric parley_store_batch_seconds_count) \
            $(metric parley_store_batch_writes_sum))
        stop
        python3 - "$binary" "$run" "$behind" "${before[@]}" "${after[@]}" <<'PY'
import json, sys
binary, run, behind = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
s0, n0, w0, s1, n1, w1 = map(float, sys.argv[4:10])
turns, writes, seconds = n1 - n0, w1 - w0, s1 - s0
print(f"{binary}: {run['achieved_per_second']:.0f} acks/s, p99 {run['latency']['p99_ms']:.1f} ms, "
      f"server CPU {run['server']['cpu_seconds']:.2f} s, search index behind by {behind}; "
      f"a turn {seconds / turns * 1000:.1f} ms for {writes / turns:.0f} writes, {seconds / writes * 1e6:.0f} µs a write")
PY
    done
done
sql postgres "DROP DATABASE IF EXISTS ingest_run"
