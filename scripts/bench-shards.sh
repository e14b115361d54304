#!/usr/bin/env bash
# One node on PostgreSQL, its store one database (`without`) or the first of two shards (`with`), then a
# `parley-bench` scenario against it: what routing each request to its organization's shard costs. Uses the
# PostgreSQL of the tests (127.0.0.1:5432, database `test`, or PARLEY_BENCH_PG), two schemas of its own made
# afresh each run.
#   bash scripts/bench-shards.sh ./target/release/parley ./target/release/parley-bench with|without SCENARIO [FLAGS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SERVER=${1:?the parley binary}
BENCH=${2:?the parley-bench binary}
mode=${3:?with or without}
shift 3
PORT=18802
URL=http://127.0.0.1:$PORT
# shellcheck source=scripts/bench-server.sh
source scripts/bench-server.sh
pg=${PARLEY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
for schema in bench_shard0 bench_shard1; do
    psql "$pg" -qc "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
done
in_schema() { echo "$pg?options=-csearch_path%3D$1"; }
dir=$(mktemp -d)
config=$dir/limits.toml
bench_limits "$config"
echo "store = \"$(in_schema bench_shard0)\"" >> "$config"
if [ "$mode" = with ]; then
    echo "store_shards = [\"$(in_schema bench_shard1)\"]" >> "$config"
fi
serve_with "$dir/data" "$config" "$dir/node.log"
"$BENCH" --url $URL --server-pid "$PID" "$@"
stop
rm -rf "$dir"
