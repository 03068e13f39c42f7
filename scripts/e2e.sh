#!/usr/bin/env bash
# End-to-end tests in a real browser (Debian's chromium driven by Playwright):
# builds the app, starts the real backend serving it on :7017 (E2E_PORT) with throwaway
# data, runs the Playwright suites, then stops the backend and checks that no
# plugin instance outlived it.
#
#   bash scripts/e2e.sh [results.json [playwright args...]]   (through scripts/toolchain.sh)
#
# E2E_PORT (default 7017) runs it on another port, so that two checkouts can
# run their suites side by side; extra arguments go to playwright (a file, -g).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
results="${1:-$ROOT/node_modules/.cache/e2e-results.json}"
shift || true
port="${E2E_PORT:-7017}"
reason="${results%.json}.reason"
rm -f "$reason"
# Why the suite could not run, for the summary (scripts/summarize-results.js).
cannot_run() {
  echo "[e2e] $*" >&2
  echo "$*" >"$reason"
  exit 1
}
export E2E_DATA_DIR="$(mktemp -d /tmp/plugin-lifecycle-e2e-XXXXXX)"
# As root, plugins run as their own users, who must pass through to the data
# directory (docs/security/isolation.md).
chmod 711 "$E2E_DATA_DIR"
log="$E2E_DATA_DIR/backend.log"
configs=(--config "$ROOT/app-config.yaml" --config "$ROOT/app-config.e2e.yaml")
if [[ "$port" != 7017 ]]; then
  cat >"$E2E_DATA_DIR/port.yaml" <<YAML
app:
  baseUrl: http://localhost:$port
backend:
  baseUrl: http://localhost:$port
  listen:
    port: $port
  cors:
    origin: http://localhost:$port
YAML
  configs+=(--config "$E2E_DATA_DIR/port.yaml")
fi

[[ -x /usr/bin/chromium ]] ||
  cannot_run "Debian's chromium is not installed (/usr/bin/chromium; sudo apt-get install -y chromium)"

node examples/scripts/pack.js >/dev/null

echo "[e2e] building the app"
(cd packages/app && backstage-cli package build "${configs[@]}") >"$E2E_DATA_DIR/build.log" 2>&1 || {
  tail -40 "$E2E_DATA_DIR/build.log"
  cannot_run "the app did not build (log: $E2E_DATA_DIR/build.log)"
}

echo "[e2e] starting the backend on :$port (log: $log)"
(cd packages/backend && exec setsid backstage-cli package start "${configs[@]}") >"$log" 2>&1 &
backend_pid=$!

stop_backend() {
  # SIGTERM lets the backend stop its plugin instances (its shutdown hook).
  kill -TERM -- "-$backend_pid" 2>/dev/null
  for _ in $(seq 1 30); do
    kill -0 "$backend_pid" 2>/dev/null || break
    sleep 1
  done
  kill -KILL -- "-$backend_pid" 2>/dev/null || true
}
trap stop_backend EXIT

for _ in $(seq 1 120); do
  if curl -sf -o /dev/null http://localhost:$port/.backstage/health/v1/readiness; then break; fi
  if ! kill -0 "$backend_pid" 2>/dev/null; then
    tail -40 "$log"
    cannot_run "the backend exited before it was ready (log: $log)"
  fi
  sleep 1
done
curl -sf -o /dev/null http://localhost:$port/.backstage/health/v1/readiness ||
  cannot_run "the backend was not ready after 120 s (log: $log)"

echo "[e2e] running Playwright"
PLAYWRIGHT_JSON_OUTPUT_NAME="$results" PLAYWRIGHT_URL=http://localhost:$port \
  playwright test --reporter=list,json "$@"
status=$?

stop_backend
trap - EXIT
leftovers=$(pgrep -f "$E2E_DATA_DIR/plugin-lifecycle" || true)
if [[ -n "$leftovers" ]]; then
  echo "[e2e] plugin instances outlived the backend: $leftovers" >&2
  kill -KILL $leftovers 2>/dev/null
  status=1
fi
[[ $status -eq 0 ]] && rm -rf "$E2E_DATA_DIR"
exit $status
