#!/usr/bin/env bash
# Runs every check and test: format, lint, type check, unit tests, and the
# integration tests against a real Apache Kafka broker and a real nats-server.
# Installs and starts both when missing (deploy/local/services.sh) and stops
# what it started. Ends with the line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v deno >/dev/null || { echo "deno is not on PATH: run npx --yes deno@2.9.6 task test" >&2; exit 1; }

services=deploy/local/services.sh
bash "$services" start
trap 'bash "$services" stop >/dev/null 2>&1 || true' EXIT

static_failed=0
for check in "fmt --check" "lint" "check main.ts src testing tests bench chaos examples deploy/bundle.ts"; do
  echo "== deno $check"
  # shellcheck disable=SC2086
  deno $check || static_failed=$((static_failed + 1))
done

mkdir -p .cache
out=.cache/test-output.txt
echo "== deno test"
set +e
NO_COLOR=1 deno test --frozen -A 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e

summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$out" | tail -n 1 || true)
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
passed=${passed:-0}
failed=${failed:-0}
if [ -z "$summary" ] && [ "$status" -ne 0 ]; then failed=1; fi
echo "static checks failed: $static_failed"
echo "$passed passed, $((failed + static_failed)) failed"
[ "$status" -eq 0 ] && [ "$static_failed" -eq 0 ]
