#!/usr/bin/env bash
# How fast is GET /api/rooms?limit=20 with thousands of live rooms?
# One node, then two nodes through Redis; 5000 connections each in its own room.
#   cargo build --release -p roomcast -p loadtest && loadtest/rooms-list.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
S=$root/target/release/roomcast; LT=$root/target/release/roomcast-loadtest
work=$(mktemp -d /tmp/roomcast-rooms.XXXXXX); pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
node() { # name port [redis]
  ( cd "$work" && exec env ROOMCAST__SERVER__HOST=127.0.0.1 ROOMCAST__SERVER__PORT=$2 ROOMCAST__NODE__ID=$1 \
     ROOMCAST__API__KEY=k ROOMCAST__DATABASE__URL="sqlite://$work/db.sqlite?mode=rwc" RUST_LOG=warn \
     ${3:+ROOMCAST__REDIS__URL=$3} taskset -c 1 "$S" ) >/dev/null 2>&1 & pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return; sleep 0.1; done
}
timeit() { # url
  python3 - "$1" <<'PY'
import sys, time, urllib.request, json
url = sys.argv[1]; req = urllib.request.Request(url, headers={"Authorization": "Bearer k"})
ts = []
for _ in range(50):
    t = time.perf_counter(); body = urllib.request.urlopen(req).read(); ts.append((time.perf_counter() - t) * 1000)
ts.sort(); rooms = json.loads(body)["rooms"]
print(f"  {len(rooms)} rooms returned, top {rooms[0]}; 50 calls: p50 {ts[25]:.2f} ms, p90 {ts[45]:.2f} ms, max {ts[-1]:.2f} ms")
PY
}
p=$(port); node a "$p"
taskset -c 0 "$LT" --url "ws://127.0.0.1:$p/ws" connections --conns 5000 --rooms 5000 --hold 25 >/dev/null 2>&1 & lt=$!
sleep 12; echo "one node, 5000 live rooms:"; timeit "http://127.0.0.1:$p/api/rooms?limit=20"; wait $lt || true
for q in "${pids[@]}"; do kill $q; done; pids=()
rp=$(port); taskset -c 1 redis-server --port $rp --bind 127.0.0.1 --save "" --appendonly no >/dev/null & pids+=($!); sleep 0.3
p1=$(port); node b1 "$p1" "redis://127.0.0.1:$rp"; p2=$(port); node b2 "$p2" "redis://127.0.0.1:$rp"
taskset -c 0 "$LT" --url "ws://127.0.0.1:$p1/ws" --url "ws://127.0.0.1:$p2/ws" connections --conns 5000 --rooms 5000 --hold 25 >/dev/null 2>&1 & lt=$!
sleep 14; echo "two nodes through Redis, 5000 live rooms:"; timeit "http://127.0.0.1:$p1/api/rooms?limit=20"; wait $lt || true
