#!/usr/bin/env bash
# The retention purge on the embedded store, measured: a million messages 100 days old (5,000 DMs of 10,000
# people, 200 each) purged by a 30-day policy while `parley-bench pairs` sends beside it, and the same pairs
# run without a purge for comparison.
#
#   bash scripts/bench-retention.sh [purge|baseline]      (PAIRS_SECONDS=25 by default)
#
# The first run makes the database in target/bench-retention/template (10,000 sign-ups and their DMs through
# the API, about a minute and a half; then the million messages written straight into SQLite with Python's
# sqlite3, indexed for search, older than anything else: the purge takes ids to grow with time). Each run
# works on a fresh copy. `purge` sets the default organization's retention to 30 days in the copy, so the
# server's janitor starts purging as it starts; the script prints the pairs report and, from `purge_runs`,
# when the purge started and finished (the run counts as finished once its search index is merged and its
# write-ahead log emptied). Uses this checkout's release builds of `parley` and `parley-bench`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODE=${1:-purge}
SERVER=target/release/parley
BENCH=target/release/parley-bench
PORT=18960
URL=http://127.0.0.1:$PORT
W=target/bench-retention
mkdir -p $W
source scripts/bench-server.sh
bench_limits $W/bench.toml
# Starts SERVER on DATA_DIR, its output in server-NAME.log, and waits until it is ready.
serve() { # DATA_DIR NAME
    serve_with "$1" $W/bench.toml "$W/server-$2.log"
}

if [ ! -d $W/template ]; then
    rm -rf $W/template.new && mkdir -p $W/template.new
    serve $W/template.new/data template
    "$BENCH" --url $URL --accounts $W/template.new/accounts.json --quiet signup --users 10000
    "$BENCH" --url $URL --accounts $W/template.new/accounts.json --quiet pairs --users 10000 --seconds 1 > /dev/null
    stop
    python3 - "$W/template.new/data/parley.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
old = int(time.time() * 1000) - 100 * 86_400_000
words = "hello world meeting lunch deploy review thanks later ok sure bug fix test ship coffee today".split()
# The pairs run's few messages go, so that the old ones have the smallest ids.
db.executescript("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all'); DELETE FROM events; DELETE FROM messages;")
dms = db.execute("SELECT c.id, min(m.user_id) FROM conversations c JOIN members m ON m.conversation_id = c.id "
                 "WHERE c.kind = 'dm' GROUP BY c.id").fetchall()
n = 0
for conversation, author in dms:
    for k in range(200):
        n += 1
        text = f"old message {n} {words[n % 16]} {words[n // 16 % 16]} {words[n // 256 % 16]} of pair {conversation}, number {k}"
        cur = db.execute("INSERT INTO messages (conversation_id, author_id, text, created_at) VALUES (?, ?, ?, ?)",
                         (conversation, author, text, old + n))
        db.execute("INSERT INTO messages_fts (rowid, text) VALUES (?, ?)", (cur.lastrowid, text))
db.execute("UPDATE search_indexed SET message_id = (SELECT max(id) FROM messages)")
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(f"{n} old messages in {len(dms)} DMs")
PY
    mv $W/template.new $W/template
fi

rm -rf $W/work && cp -r $W/template $W/work
if [ "$MODE" = purge ]; then
    python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('UPDATE orgs SET retention_days = 30'); db.commit()" \
        $W/work/data/parley.db
fi
serve $W/work/data "$MODE"
echo "== pairs, $MODE"
"$BENCH" --url $URL --accounts $W/work/accounts.json --server-pid "$PID" --quiet \
    pairs --users 10000 --seconds "${PAIRS_SECONDS:-25}" | grep -vE '^\{'
if [ "$MODE" = purge ]; then
    for _ in $(seq 1800); do
        RUN=$(python3 -c "
import sqlite3, sys
db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)
row = db.execute('SELECT started_at, finished_at, messages FROM purge_runs').fetchone()
print('' if row is None or row[1] is None else f'purged {row[2]} messages in {(row[1] - row[0]) / 1000:.1f} s')
" $W/work/data/parley.db)
        [ -n "$RUN" ] && break
        sleep 1
    done
    echo "${RUN:-the purge did not finish within 30 minutes}"
fi
