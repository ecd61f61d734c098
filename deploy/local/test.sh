#!/usr/bin/env bash
# Runs every check and test: format, lint, type check, unit tests, and the
# integration tests against a real Apache Kafka broker and a real nats-server,
# plain and secured (SASL/TLS, `services.sh --secure`, on ports of their own).
# Installs and starts them when missing (deploy/local/services.sh) and stops
# what it started. Ends with the line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v deno >/dev/null || { echo "deno is not on PATH: run npx --yes deno@2.9.6 task test" >&2; exit 1; }

services=deploy/local/services.sh
bash "$services" start
# The secured services start while the static checks run; their test reuses
# them (or starts them itself when run alone).
bash "$services" start --secure >.cache/secure-start.log 2>&1 &
# So do the deployment tests' tools (nginx, compose-go and kustomize, kubernetes-
# validate, the Strimzi and Prometheus Operator CRDs); tests/deploy_test.ts and
# tests/load_balancer_test.ts wait for this install (it is locked, and instant
# once done) and show its errors.
bash deploy/local/validators.sh install >.cache/validators-install.log 2>&1 &
trap '{ bash "$services" stop --secure >/dev/null 2>&1 || true; } &
  bash "$services" stop >/dev/null 2>&1 || true; wait' EXIT

static_failed=0
for check in "fmt --check" "lint" "check main.ts src testing tests bench chaos examples deploy/bundle.ts deploy/local/nats_creds.ts"; do
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
