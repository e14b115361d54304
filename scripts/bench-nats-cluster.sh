#!/usr/bin/env bash
# Starts three `parley` nodes on PostgreSQL and NATS for parley-bench, on one NATS server or on three clustered on
# loopback (each node given all three, a different one first), and prints the nodes' process ids separated by
# commas (for --server-pid). Stops whatever an earlier run of it started first. Files go nowhere (no run here
# uploads any): the S3 settings a cluster needs point at a closed port.
#   bash scripts/bench-nats-cluster.sh ./target/release/parley one|three postgres://postgres@127.0.0.1:5432/parley_nb
# Nodes listen on 127.0.0.1:18701-18703, NATS on 24301-24303 (routes 24311-24313); logs and data in /tmp/nb.
set -euo pipefail
binary=${1:?the parley binary}
layout=${2:?one or three}
store=${3:?a PostgreSQL URL}
dir=/tmp/nb

pkill -f "nats-server -a 127.0.0.1 -p 2430" || true
pkill -f "serve --listen 127.0.0.1:1870" || true
sleep 1
pkill -9 -f "serve --listen 127.0.0.1:1870" || true
mkdir -p "$dir"
rm -rf "$dir"/n1 "$dir"/n2 "$dir"/n3 "$dir"/*.log

case "$layout" in
one)
    nats-server -a 127.0.0.1 -p 24301 >/dev/null 2>"$dir/nats1.log" &
    urls=(nats://127.0.0.1:24301 nats://127.0.0.1:24301 nats://127.0.0.1:24301)
    ;;
three)
    for i in 1 2 3; do
        routes=$(for j in 1 2 3; do [ "$i" = "$j" ] || printf 'nats://127.0.0.1:2431%s,' "$j"; done)
        nats-server -a 127.0.0.1 -p "2430$i" --cluster_name bench --cluster "nats://127.0.0.1:2431$i" \
            --routes "${routes%,}" >/dev/null 2>"$dir/nats$i.log" &
    done
    urls=(nats://127.0.0.1:24301,nats://127.0.0.1:24302,nats://127.0.0.1:24303
        nats://127.0.0.1:24302,nats://127.0.0.1:24303,nats://127.0.0.1:24301
        nats://127.0.0.1:24303,nats://127.0.0.1:24301,nats://127.0.0.1:24302)
    ;;
*)
    echo "layout must be one or three" >&2
    exit 2
    ;;
esac
sleep 2

vapid=$(python3 -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('='))")
secret=$(python3 -c "import os;print(os.urandom(32).hex())")
pids=()
for n in 1 2 3; do
    cat >"$dir/n$n.toml" <<TOML
ws_ops_per_second = 10000
sends_per_second = 1000000
sends_burst = 1000000
node_id = "node-$n"
cluster = "bench"
files = "s3://bench"
s3_endpoint = "http://127.0.0.1:9"
s3_region = "us-east-1"
s3_access_key_id = "bench"
s3_secret_access_key = "bench-secret"
vapid_private_key = "$vapid"
url_secret = "$secret"
TOML
    "$binary" serve --listen "127.0.0.1:1870$n" --data-dir "$dir/n$n" --config "$dir/n$n.toml" \
        --store "$store" --bus "${urls[$((n - 1))]}" >"$dir/node$n.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 150); do
        curl -sf "http://127.0.0.1:1870$n/readyz" >/dev/null && break
        sleep 0.2
    done
done
(IFS=,; echo "${pids[*]}")
