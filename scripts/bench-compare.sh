#!/usr/bin/env bash
# Runs parley-bench's scenarios against one build of the server, each on a fresh copy of the same database,
# so that two builds can be compared fairly (a database that has taken millions of messages is slower).
#
#   bash scripts/bench-compare.sh [SERVER_BINARY] [OUT_FILE]
#
# SERVER_BINARY defaults to this checkout's release build; OUT_FILE to target/bench-compare.txt. The first run
# makes the database (10,000 users and 5,000 DMs: about a minute and a half of sign-ups) in
# target/bench-template and keeps it. The servers listen on 127.0.0.1:18950 with the per-client limits
# lifted (target/bench.toml: ops per socket, sends per user, sign-ups and connections per address), so ingest
# measures the store and not a rate limit. Needs about 12 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -q -p parley-server --bin parley
cargo build --release -q -p parley-bench
SERVER=${1:-target/release/parley}
OUT=${2:-target/bench-compare.txt}
BENCH=target/release/parley-bench
TEMPLATE=target/bench-template
WORK=target/bench-run
PORT=18950
URL=http://127.0.0.1:$PORT
mkdir -p target
source scripts/bench-server.sh
bench_limits target/bench.toml 10000

# Starts SERVER on DATA_DIR and waits until it is ready.
serve() {
    serve_with "$1" target/bench.toml "$WORK.log"
}

if [ ! -d "$TEMPLATE" ]; then
    rm -rf "$TEMPLATE.new" && mkdir -p "$TEMPLATE.new"
    serve "$TEMPLATE.new/data"
    "$BENCH" --url $URL --accounts "$TEMPLATE.new/accounts.json" --quiet signup --users 10000
    "$BENCH" --url $URL --accounts "$TEMPLATE.new/accounts.json" --quiet pairs --users 10000 --seconds 1 > /dev/null
    stop
    mv "$TEMPLATE.new" "$TEMPLATE"
fi

: > "$OUT"
# Runs one scenario on a fresh copy of the template, and appends its table to OUT.
scenario() {
    stop
    rm -rf "$WORK" && cp -r "$TEMPLATE" "$WORK"
    serve "$WORK/data"
    echo "== $*" | tee -a "$OUT"
    "$BENCH" --url $URL --accounts "$WORK/accounts.json" --server-pid "$PID" --quiet "$@" \
        | grep -vE '^\{' | tee -a "$OUT"
}
scenario idle --sockets 10000 --seconds 5 --concurrency 256
scenario connect --sockets 10000
scenario fanout --members 1000 --rate 200 --seconds 10
scenario pairs --users 10000 --seconds 10
scenario ingest --senders 500 --seconds 10
scenario catchup --conversations 50 --messages 1000 --repeats 10
scenario storm --users 10000 --behind 100
echo "written to $OUT"
