#!/usr/bin/env bash
# The benchmark suite behind loadtest/README.md's results table. Release builds,
# server pinned to CPU 1, load tester to CPU 0, everything on loopback, every run
# bounded. Results: one JSON line per run appended to $OUT.
#
#   cargo build --release -p roomcast -p loadtest
#   loadtest/bench.sh                       # all steps (~4 min)
#   STEPS="fan10000 idle19000" loadtest/bench.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SERVER=${SERVER:-$root/target/release/roomcast}
LT=${LT:-$root/target/release/roomcast-loadtest}
OUT=${OUT:-$root/loadtest/results/bench-$(date +%Y%m%d-%H%M%S).jsonl}
STEPS=${STEPS:-"fan2000 fan10000 idle19000 redis2000 redis10000"}
SECRET=bench-secret
mkdir -p "$(dirname "$OUT")"
work=$(mktemp -d /tmp/roomcast-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server NAME PORT [REDIS_URL] -> sets $spid
start_server() {
    local name=$1 port=$2 redis=${3:-}
    ( cd "$work" && exec env ROOMCAST__SERVER__HOST=127.0.0.1 ROOMCAST__SERVER__PORT="$port" \
        ROOMCAST__SERVER__WORKERS=1 ROOMCAST__NODE__ID="$name" ROOMCAST__AUTH__JWT_SECRET=$SECRET \
        ROOMCAST__DATABASE__URL="sqlite://$work/$name.db?mode=rwc" RUST_LOG=warn \
        ${redis:+ROOMCAST__REDIS__URL=$redis} taskset -c 1 "$SERVER" ) >"$work/$name.log" 2>&1 &
    spid=$!
    pids+=("$spid")
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server $name did not start" >&2; cat "$work/$name.log" >&2; return 1
}

run() { # label args...
    local label=$1; shift
    echo "== $label" >&2
    taskset -c 0 "$LT" --jwt-secret $SECRET --label "$label" --json-out "$OUT" --max-runtime 240 "$@" >/dev/null || echo "!! $label exited $?" >&2
}

stop_all() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }

for step in $STEPS; do
    case $step in
        fan2000|fan10000)
            v=${step#fan}; p=$(free_port); start_server n1 "$p"
            run "fanout-1x$v" --url "ws://127.0.0.1:$p/ws" --server-pid "$spid" \
                fanout --rooms 1 --viewers "$v" --rate 20 --duration 20
            stop_all ;;
        idle19000)
            p=$(free_port); start_server n1 "$p"
            run "idle-19000" --url "ws://127.0.0.1:$p/ws" --server-pid "$spid" --procs 2 \
                connections --conns 19000 --rooms 100 --hold 10
            stop_all ;;
        redis2000|redis10000)
            v=${step#redis}; rp=$(free_port)
            taskset -c 1 redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
            pids+=($!); sleep 0.3
            p1=$(free_port); start_server n1 "$p1" "redis://127.0.0.1:$rp"; s1=$spid
            p2=$(free_port); start_server n2 "$p2" "redis://127.0.0.1:$rp"; s2=$spid
            sleep 1
            run "fanout-1x$v-redis-2nodes" --url "ws://127.0.0.1:$p1/ws" --url "ws://127.0.0.1:$p2/ws" \
                --server-pid "$s1" --server-pid "$s2" fanout --rooms 1 --viewers "$v" --rate 20 --duration 20
            stop_all ;;
        *) echo "unknown step $step" >&2 ;;
    esac
done
echo "results: $OUT" >&2
