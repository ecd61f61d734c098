#!/usr/bin/env bash
# deno task bench: starts Kafka and NATS when missing (stopping what it started),
# installs wrk from Debian when missing, and runs bench/main.ts.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
services=deploy/local/services.sh
# Services that were already up are left running afterwards.
if ! bash "$services" status >/dev/null 2>&1; then
  bash "$services" start
  trap 'bash "$services" stop >/dev/null 2>&1 || true' EXIT
fi
# 10,000 WebSocket connections need more file descriptors than the usual default.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
deno run --frozen -A bench/main.ts "$@"
