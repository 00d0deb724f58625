#!/usr/bin/env bash
# Side by side: roomcast, the Bun peer and the Socket.IO peer, same generator (wsload),
# each server alone on CPU 1, wsload on CPU 0. See loadtest/compare.py --help.
#   cargo build --release -p roomcast
#   loadtest/compare.sh [--servers roomcast,bun,socketio] [--scenarios fan2000,...] [--quick]
exec python3 "$(dirname "$0")/compare.py" "$@"
