# What the bench-*.sh scripts share, sourced by each: the limits file that lets one load generator drive a
# server, and starting and stopping that server. The script sets SERVER (the binary), PORT and URL first.

# Writes FILE. The load generator runs from one address and makes thousands of accounts, sockets and
# messages: the limits that protect a server from one client (per address, per user) are lifted, so what is
# measured is the server. WS_OPS, when given, is how many ops a second one socket may send.
bench_limits() { # FILE [WS_OPS]
    {
        if [ -n "${2:-}" ]; then
            echo "ws_ops_per_second = $2"
        fi
        cat <<'TOML'
sends_per_second = 1000000
sends_burst = 1000000
signups_per_address_per_hour = 1000000
signups_per_minute = 1000000
max_connections_per_address = 100000
TOML
    } > "$1"
}

PID=
# Stops the server started last, if it runs.
stop() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=
    fi
}
trap stop EXIT

# Starts SERVER on DATA_DIR with CONFIG, its output in LOG, and waits (up to 30 s) until it is ready.
serve_with() { # DATA_DIR CONFIG LOG
    "$SERVER" serve --listen 127.0.0.1:$PORT --data-dir "$1" --config "$2" > "$3" 2>&1 &
    PID=$!
    for _ in $(seq 300); do
        # Ready, and this very process (not another one left on the port).
        curl -sf $URL/readyz > /dev/null && kill -0 "$PID" 2>/dev/null && return
        sleep 0.1
    done
    echo "the server did not become ready (see $3)" >&2
    stop
    exit 1
}

# PostgreSQL's server programs (PG_BINDIR, else the newest of Debian's), run as the postgres user when this
# runs as root, for the scripts that make a PostgreSQL server of their own: `pg PROGRAM ARGS...`.
pg_bin=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
as_postgres=()
if [ "$(id -u)" = 0 ]; then
    as_postgres=(runuser -u postgres --)
fi
pg() { "${as_postgres[@]}" "$pg_bin/$1" "${@:2}"; }
