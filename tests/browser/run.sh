#!/usr/bin/env bash
# Browser tests of the moderator console (web/console/), in Debian's Chromium
# driven by playwright-core, against a real roomcast server.
#
#   tests/browser/run.sh          # v1, §7 and §8 on the real server, and every v2 panel on a scripted stand-in
#
# Installs what is missing: Chromium (apt-get) and the npm packages (npm ci).
# The server binary is $ROOMCAST_BIN, default ../../target/debug/roomcast
# (built with `cargo build -p roomcast` when it is missing).
set -euo pipefail
cd "$(dirname "$0")"

files=(test/v1.test.js test/v2.test.js test/v2-platform.test.js test/mock-v2.test.js)

if [[ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]]; then
  echo "run.sh: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
if [[ ! -d node_modules/playwright-core || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

export ROOMCAST_BIN="${ROOMCAST_BIN:-$(pwd)/../../target/debug/roomcast}"
if [[ ! -x "$ROOMCAST_BIN" ]]; then
  echo "run.sh: $ROOMCAST_BIN missing; building it (cargo build -p roomcast)" >&2
  (cd ../.. && cargo build -q -p roomcast)
fi

exec node --test --test-concurrency=1 "${files[@]}"
