#!/usr/bin/env bash
# Runs the test suites and ends with one plain summary line taken from the
# runners' own results:  N passed, N failed, N skipped
#
#   bash scripts/test.sh unit|integration|e2e|all
#
# Run through scripts/toolchain.sh (the root package.json scripts do that).
# Installs what the suites need from the machine first (scripts/provision.sh).
# A suite that cannot run counts as failed, with its reason in the summary.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mode="${1:-all}"
case "$mode" in
  unit | integration | e2e | all) ;;
  *) echo "usage: $0 unit|integration|e2e|all" >&2; exit 2 ;;
esac
RESULTS="$ROOT/node_modules/.cache/test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
rm -f "$ROOT/node_modules/.cache/test-summary.txt"

# Never watch mode; never Docker (there is none here).
export CI=true
export BACKSTAGE_TEST_DISABLE_DOCKER=1

# shellcheck source=provision.sh
source "$ROOT/scripts/provision.sh"
provision "$mode"
for package in "${PROVISION_MISSING[@]}"; do
  echo "$package is not installed (sudo apt-get install -y $package)" >>"$RESULTS/missing.txt"
done

# Database tests run on SQLite always, and on PostgreSQL when one answers.
PG_URL="${BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING:-postgresql://postgres@127.0.0.1:5432/postgres}"
if [[ "$mode" != e2e ]]; then
  if node -e "
    const { Client } = require('pg');
    const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
    c.connect().then(() => c.query('select 1')).then(() => c.end()).then(() => process.exit(0), () => process.exit(1));
  " "$PG_URL" 2>/dev/null; then
    export BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING="${PG_URL%/postgres}"
    echo "[test] database tests run on SQLite and on PostgreSQL at ${BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING}"
  else
    unset BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING
    echo "[test] PostgreSQL is not reachable: database tests run on SQLite only"
    echo "postgresql: PostgreSQL is not reachable at ${PG_URL%/postgres}; database tests ran on SQLite only" \
      >>"$RESULTS/skipped.txt"
  fi
fi

status=0
expect() { echo "$1" >>"$RESULTS/expected.txt"; }

run_lint() {
  expect lint
  echo "[test] lint: backstage-cli repo lint"
  if backstage-cli repo lint; then
    echo '{"lint":"clean"}' >"$RESULTS/lint.json"
  else
    echo '{"lint":"failed"}' >"$RESULTS/lint.json"
    status=1
  fi
}

run_jest() { # name, extra jest args...
  local name="$1"; shift
  expect "jest-$name"
  echo "[test] jest: $name"
  backstage-cli repo test --json --outputFile="$RESULTS/jest-$name.json" "$@" || status=1
}

# The Kubernetes control plane the cluster tests run against (kube-apiserver,
# -controller-manager, -scheduler 1.20.2 from Debian's source package), built
# once into a cache outside the checkout (~8 min cold on 2 cores, instant
# after). When it cannot be built, those tests skip and say why.
build_kube() {
  echo "[test] kubernetes control plane for the cluster tests: scripts/kube/build.sh"
  if ! bash "$ROOT/scripts/kube/build.sh" >"$RESULTS/kube-build.log" 2>&1; then
    echo "[test] the control plane could not be built (the cluster tests skip):"
    tail -5 "$RESULTS/kube-build.log"
  fi
}

run_e2e() {
  expect playwright
  echo "[test] e2e: a real browser against the built app and backend"
  bash "$ROOT/scripts/e2e.sh" "$RESULTS/playwright.json" || status=1
}

case "$mode" in
  unit) run_jest unit --testPathIgnorePatterns '\.integration\.test\.' ;;
  integration)
    build_kube
    run_jest integration --testPathPatterns '\.integration\.test\.'
    ;;
  e2e) run_e2e ;;
  all)
    run_lint
    run_jest unit --testPathIgnorePatterns '\.integration\.test\.'
    build_kube
    run_jest integration --testPathPatterns '\.integration\.test\.'
    run_e2e
    ;;
esac

node "$ROOT/scripts/summarize-results.js" "$RESULTS" || status=1
exit $status
