#!/usr/bin/env bash
# The highest rate one build of the server carries in three loads, found by stepping the rate up, so that
# builds (before and after a gateway rewrite, say) can be compared on the same figures:
#
#   - a public channel of 1,000 connected members, and one sender sending `send` ops over one WebSocket
#     (parley-bench fanout --members 1000 --via socket);
#   - the same with 100 members;
#   - 1,000 users in 500 DMs, each sending over their own socket, the rate counting all of them together
#     (parley-bench pairs --users 1000, whose --rate is each user's: the total over 1,000).
#
#   bash scripts/bench-speed.sh [SERVER_BINARY] [OUT_FILE]
#
# SERVER_BINARY defaults to this checkout's release build; OUT_FILE to target/bench-speed.txt. Every send is
# open loop: it goes at its scheduled time whatever happened to the ones before, and latency runs from that
# time to the message's arrival on each receiver's socket. Each step runs STEP_SECONDS (10) on a fresh server
# over a fresh copy of the same database, and a scenario stops at its first failing step: p99 at 100 ms or
# more, or any scheduled message not sent, refused, unanswered or lost. OUT_FILE gets a table per scenario
# (a row per step) and its highest passing rate, with deliveries/s, p99 and the server's CPU time (utime +
# stime from /proc) per delivery; then `idle`, the server's memory per idle socket. Each run's JSON line is
# added to target/bench-speed/runs.jsonl.
#
# The first run makes the database (1,001 users and their 500 DMs: under a minute of sign-ups) in
# target/bench-speed/template and keeps it. The servers listen on 127.0.0.1:18970 with the limits that
# protect a server from one client lifted (target/bench-speed/bench.toml: ops per socket, sends per user,
# sign-ups and connections per address), since one socket here sends thousands of ops a second.
#
# BIG_ROOM_RATES, SMALL_ROOM_RATES and PAIRS_RATES replace a scenario's steps (messages a second, separated
# by spaces), and STEP_SECONDS their length. BENCH_SPEED_QUICK=1 shrinks everything (rooms of 20 and 10
# members, 20 users in pairs, 2 s steps at a few low rates) to check in half a minute that the script works;
# its figures mean nothing. The load generator shares the machine with the server, so on a small machine
# every figure is a floor.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SERVER=${1:-target/release/parley}
OUT=${2:-target/bench-speed.txt}
if [ "${1:-}" = "" ]; then
    cargo build --release -q -p parley-server --bin parley
fi
cargo build --release -q -p parley-bench
BENCH=target/release/parley-bench
W=target/bench-speed
PORT=18970
URL=http://127.0.0.1:$PORT

if [ "${BENCH_SPEED_QUICK:-}" = 1 ]; then
    BIG_ROOM=20 SMALL_ROOM=10 PAIR_USERS=20 IDLE_SOCKETS=20
    STEP_SECONDS=${STEP_SECONDS:-2}
    BIG_ROOM_RATES=${BIG_ROOM_RATES:-10 20 40}
    SMALL_ROOM_RATES=${SMALL_ROOM_RATES:-20 40 80}
    PAIRS_RATES=${PAIRS_RATES:-20 40 80}
    TEMPLATE=$W/template-quick
else
    BIG_ROOM=1000 SMALL_ROOM=100 PAIR_USERS=1000 IDLE_SOCKETS=1000
    STEP_SECONDS=${STEP_SECONDS:-10}
    BIG_ROOM_RATES=${BIG_ROOM_RATES:-50 100 200 400 800 1600 3200}
    SMALL_ROOM_RATES=${SMALL_ROOM_RATES:-250 500 1000 2000 4000 8000 16000}
    PAIRS_RATES=${PAIRS_RATES:-2500 5000 10000 20000 40000 80000}
    TEMPLATE=$W/template
fi
# Users the template needs: the big room's members and its sender, the pairs' users, one per idle socket.
USERS=$(( BIG_ROOM + 1 > PAIR_USERS ? BIG_ROOM + 1 : PAIR_USERS ))
USERS=$(( USERS > IDLE_SOCKETS ? USERS : IDLE_SOCKETS ))

mkdir -p $W
source scripts/bench-server.sh
bench_limits $W/bench.toml 1000000

# Starts SERVER on DATA_DIR and waits until it is ready.
serve() {
    serve_with "$1" $W/bench.toml $W/server.log
}

if [ ! -d "$TEMPLATE" ]; then
    rm -rf "$TEMPLATE.new" && mkdir -p "$TEMPLATE.new"
    serve "$TEMPLATE.new/data"
    "$BENCH" --url $URL --accounts "$TEMPLATE.new/accounts.json" --quiet signup --users $USERS
    # Makes the DMs of pairs, which later runs find.
    "$BENCH" --url $URL --accounts "$TEMPLATE.new/accounts.json" --quiet \
        pairs --users $PAIR_USERS --rate 1 --seconds 1 > /dev/null
    stop
    mv "$TEMPLATE.new" "$TEMPLATE"
fi

# Runs parley-bench with ARGS on a fresh server over a fresh copy of the template. Its output (the table, then
# the JSON line) goes to $W/last.txt, and the JSON line into runs.jsonl too.
run() {
    stop
    rm -rf $W/run && cp -r "$TEMPLATE" $W/run
    serve $W/run/data
    local status=0
    "$BENCH" --url $URL --accounts $W/run/accounts.json --server-pid "$PID" --quiet "$@" > $W/last.txt \
        || status=$?
    stop
    grep -E '^\{' $W/last.txt >> $W/runs.jsonl || true
    return $status
}

# Reads a run's JSON line on stdin and prints two lines: its row of the table, ending in `pass` or
# `FAIL: why`, and a summary of it. RATE, the first column, is the scenario's messages a second as scheduled.
judge() { # RATE
    python3 -c '
import json, sys
rate = sys.argv[1]
r = json.loads(sys.stdin.read())
extra = r["extra"]
latency = r["latency"] or {}
why = []
if r["sent"] < (r["scheduled"] or 0):
    why.append("%d of %d sent" % (r["sent"], r["scheduled"]))
if r["errors"]:
    why.append("%d refused" % r["errors"])
if r["lost"]:
    why.append("%d lost" % r["lost"])
if r["duplicated"]:
    why.append("%d duplicated" % r["duplicated"])
for failed in ("sender_failed", "receivers_failed"):
    if extra.get(failed):
        why.append(failed.replace("_", " "))
p99 = latency.get("p99_ms")
if p99 is None or p99 >= 100:
    why.append("p99 >= 100 ms")
cpu = r["server_cpu_us_per_delivery"]
cpu = "%.1f" % cpu if cpu is not None else "-"
print("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %d | %s | %s |" % (
    rate, r["messages_per_second"] or 0, r["achieved_per_second"],
    latency.get("p50_ms", 0), latency.get("p99_ms", 0), latency.get("max_ms", 0), r["lost"] or 0,
    cpu, "FAIL: " + ", ".join(why) if why else "pass"))
print("%s msgs/s: %.0f deliveries/s, p99 %.2f ms, %s µs of server CPU per delivery" % (
    rate, r["achieved_per_second"], latency.get("p99_ms", 0), cpu))
' "$1"
}

# Steps one scenario through RATES (messages a second), a row per step, until a step fails; then says which
# rate passed last. ARGS_FOR_RATE is a function that prints parley-bench's arguments for a rate.
steps() { # TITLE ARGS_FOR_RATE RATES
    local title=$1 args_for_rate=$2 rates=$3 best=none judged
    {
        echo
        echo "== $title"
        echo
        echo "| msgs/s scheduled | msgs/s | deliveries/s | p50 ms | p99 ms | max ms | lost | server CPU µs/delivery | result |"
        echo "|---|---|---|---|---|---|---|---|---|"
    } | tee -a "$OUT"
    for rate in $rates; do
        # shellcheck disable=SC2046 # the arguments are separate words on purpose
        if ! run $($args_for_rate "$rate"); then
            echo "| $rate | parley-bench failed: see $W/last.txt and $W/server.log |" | tee -a "$OUT"
            break
        fi
        judged=$(tail -n 1 $W/last.txt | judge "$rate")
        head -n 1 <<< "$judged" | tee -a "$OUT"
        case $(head -n 1 <<< "$judged") in
            *"| pass |") best=$(tail -n 1 <<< "$judged") ;;
            *) break ;;
        esac
    done
    printf '\nhighest passing: %s\n' "$best" | tee -a "$OUT"
}

room_args() { # MEMBERS RATE
    echo "fanout --members $1 --via socket --rate $2 --seconds $STEP_SECONDS"
}
big_room() { room_args $BIG_ROOM "$1"; }
small_room() { room_args $SMALL_ROOM "$1"; }
pairs_args() { # RATE (all users together): each user sends RATE / PAIR_USERS a second
    echo "pairs --users $PAIR_USERS --rate $(awk "BEGIN { print $1 / $PAIR_USERS }") --seconds $STEP_SECONDS"
}

{
    echo "bench-speed: server $SERVER, parley-bench of $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
    echo "steps of $STEP_SECONDS s; a step fails at p99 >= 100 ms or any message not sent, refused or lost"
} | tee "$OUT"
steps "room of $BIG_ROOM members, one sender socket (fanout --via socket)" big_room "$BIG_ROOM_RATES"
steps "room of $SMALL_ROOM members, one sender socket (fanout --via socket)" small_room "$SMALL_ROOM_RATES"
steps "$(( PAIR_USERS / 2 )) pairs, each user sending over their own socket (pairs)" pairs_args "$PAIRS_RATES"

echo | tee -a "$OUT"
echo "== idle: $IDLE_SOCKETS sockets held 5 s" | tee -a "$OUT"
run idle --sockets $IDLE_SOCKETS --seconds 5 --concurrency 256
tail -n 1 $W/last.txt | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("%.1f KiB of server RSS per idle socket (%d held, %d dropped)" % (
    r["extra"].get("rss_per_connection_kib", 0), r["sent"], r["errors"]))
' | tee -a "$OUT"
echo "written to $OUT"
