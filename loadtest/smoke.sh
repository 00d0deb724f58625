#!/usr/bin/env bash
# Smoke test of roomcast-loadtest against a real roomcast server: starts the
# server on a free loopback port with a temporary SQLite file and a known JWT
# secret, waits for /readyz, runs the four scenarios at small sizes, stops the
# server and exits non-zero if any scenario failed. About 30-40 s in all.
#
# Usage: loadtest/smoke.sh [SERVER_BIN [LOADTEST_BIN]]
#   or set ROOMCAST_BIN / LOADTEST_BIN; defaults: target/debug/roomcast and
#   target/debug/roomcast-loadtest of this workspace.
#   SMOKE_JSON_OUT=FILE appends every scenario's JSON line to FILE.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
server_bin="${1:-${ROOMCAST_BIN:-$root/target/debug/roomcast}}"
lt_bin="${2:-${LOADTEST_BIN:-$root/target/debug/roomcast-loadtest}}"
for bin in "$server_bin" "$lt_bin"; do
    if [[ ! -x "$bin" ]]; then
        echo "smoke: $bin is not an executable (build it first)" >&2
        exit 2
    fi
done
server_bin="$(cd "$(dirname "$server_bin")" && pwd)/$(basename "$server_bin")"
lt_bin="$(cd "$(dirname "$lt_bin")" && pwd)/$(basename "$lt_bin")"

work="$(mktemp -d "${TMPDIR:-/tmp}/roomcast-smoke.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

secret="smoke-secret-$RANDOM$RANDOM"
log="$work/server.log"
# Started from the temporary directory, so no config/ directory of the caller applies.
# Every load-test connection comes from 127.0.0.1: the per-address caps of
# contract §6 (which would answer 429 past 50 connects) are raised for it.
(
    cd "$work"
    exec env \
        ROOMCAST__SERVER__HOST=127.0.0.1 \
        ROOMCAST__SERVER__PORT=0 \
        ROOMCAST__DATABASE__URL="sqlite://$work/smoke.db?mode=rwc" \
        ROOMCAST__AUTH__JWT_SECRET="$secret" \
        ROOMCAST__LOG__FORMAT=json \
        ROOMCAST__LIMITS__CONNECTIONS_PER_IP=100000 \
        ROOMCAST__LIMITS__CONNECTS_PER_IP_PER_S=100000 \
        ROOMCAST__LIMITS__CONNECTS_PER_IP_BURST=100000 \
        ROOMCAST__LOG__LEVEL=info \
        "$server_bin" >"$log" 2>&1
) &
server_pid=$!

# The server picks a free port (port 0) and logs it.
port=""
for _ in $(seq 1 100); do
    port="$(grep -m1 '"message":"roomcast listening"' "$log" 2>/dev/null |
        grep -o '"port":[0-9]*' | cut -d: -f2 || true)"
    [[ -n "$port" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "smoke: the server exited at startup:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$port" ]]; then
    echo "smoke: the server did not report its port within 10 s" >&2
    cat "$log" >&2
    exit 1
fi

ready() {
    local status
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    status="$(head -n1 <&3 || true)"
    exec 3<&- 3>&-
    [[ "$status" == *" 200 "* ]]
}
is_ready=""
for _ in $(seq 1 100); do
    if ready 2>/dev/null; then
        is_ready=1
        break
    fi
    sleep 0.1
done
if [[ -z "$is_ready" ]]; then
    echo "smoke: /readyz did not answer 200 within 10 s" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
echo "smoke: server PID $server_pid ready on 127.0.0.1:$port" >&2

common=(--url "ws://127.0.0.1:$port/ws" --jwt-secret "$secret" --server-pid "$server_pid"
    --max-runtime 30 --label smoke)
if [[ -n "${SMOKE_JSON_OUT:-}" ]]; then
    common+=(--json-out "$SMOKE_JSON_OUT")
fi

failed=()
run() {
    local name="$1"
    shift
    echo "smoke: $name: roomcast-loadtest $*" >&2
    if "$lt_bin" "${common[@]}" "$@"; then
        echo "smoke: $name passed" >&2
    else
        echo "smoke: $name FAILED (exit $?)" >&2
        failed+=("$name")
    fi
}

run connections connections --conns 300 --rooms 10 --hold 2
run fanout --procs 2 fanout --rooms 2 --viewers 50 --rate 5 --duration 5
run reactions reactions --viewers 20 --rate 5 --duration 4
run churn churn --viewers 50 --rate 10 --duration 5

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "smoke: the server died during the run" >&2
    tail -n 20 "$log" >&2
    failed+=(server)
fi
if ((${#failed[@]} > 0)); then
    echo "smoke: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "smoke: all scenarios passed" >&2
