#!/usr/bin/env bash
# Side by side in one run: the Socket.IO peer of ../shared/bench and roomcast,
# loaded by the same neutral generator (wsload), server on CPU 1, load on CPU 0.
#   cargo build --release -p roomcast
#   loadtest/compare.sh            # BENCH=/tmp/bench (a writable copy of ../shared/bench)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BENCH=${BENCH:-/tmp/bench}
[ -d "$BENCH" ] || cp -r "$root/../shared/bench" "$BENCH"
[ -d "$BENCH/peer-socketio/node_modules" ] || (cd "$BENCH/peer-socketio" && npm ci --no-audit --no-fund)
[ -x "$BENCH/wsload/target/release/wsload" ] || (cd "$BENCH/wsload" && cargo build --release)
W=$BENCH/wsload/target/release/wsload
OUT=${OUT:-$root/loadtest/results/compare-$(date +%Y%m%d-%H%M%S).jsonl}
STEPS=${STEPS:-"fan2000 idle10k"}
SECRET=compare-secret

# 1. the peer, with its own script (results go to $BENCH/results, copied to $OUT)
STAMP=cmp-$$ STEPS="$STEPS" QUIET_WAIT=30 "$BENCH/run-peer.sh" >/dev/null 2>&1 || true
cat "$BENCH/results/socketio-cmp-$$.jsonl" >> "$OUT"

# 2. roomcast, same generator, same steps
work=$(mktemp -d /tmp/roomcast-cmp.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() {
  ( cd "$work" && exec env ROOMCAST__SERVER__HOST=127.0.0.1 ROOMCAST__SERVER__PORT=$port ROOMCAST__SERVER__WORKERS=1 \
      ROOMCAST__AUTH__JWT_SECRET=$SECRET ROOMCAST__DATABASE__URL="sqlite://$work/c.db?mode=rwc" RUST_LOG=warn \
      taskset -c 1 "$root/target/release/roomcast" ) >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
}
for step in $STEPS; do
  start
  case $step in
    fan2000) taskset -c 0 "$W" --proto roomcast --urls "ws://127.0.0.1:$port" --jwt-secret $SECRET --server-pid $pid \
               --label roomcast-fanout-1x2000 --json-out "$OUT" fanout --rooms 1 --viewers 2000 --rate 20 --duration 20 >/dev/null ;;
    fan5000) taskset -c 0 "$W" --proto roomcast --urls "ws://127.0.0.1:$port" --jwt-secret $SECRET --server-pid $pid \
               --label roomcast-fanout-1x5000 --json-out "$OUT" fanout --rooms 1 --viewers 5000 --rate 20 --duration 20 >/dev/null ;;
    idle10k) taskset -c 0 "$W" --proto roomcast --urls "ws://127.0.0.1:$port" --server-pid $pid \
               --label roomcast-idle-10000 --json-out "$OUT" idle --conns 10000 --rooms 100 --hold 15 >/dev/null ;;
  esac
  kill $pid; wait $pid 2>/dev/null || true
done
rm -rf "$work"
echo "results: $OUT" >&2
python3 - "$OUT" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["scenario"] == "fanout":
        cps = r["received"] / r["server_cpu_s"] if r.get("server_cpu_s") else 0
        print(f'{r["label"]:32} delivered {r["received"]}/{r["expected"]}  p50 {r["lat_ms"]["p50"]:.1f} ms  p99 {r["lat_ms"]["p99"]:.1f} ms  server CPU {r["server_cpu_s"]:.2f} s  {cps:,.0f} deliveries/CPU-s  client saturated {r.get("client_saturated")}')
    else:
        print(f'{r["label"]:32} {r["connected"]}/{r["conns"]} up  {r.get("server_kib_per_conn")} KiB/conn')
PY
