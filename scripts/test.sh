#!/usr/bin/env bash
# Runs the test suites and ends with one plain summary line taken from the
# runners' own results:  N passed, N failed
#
#   bash scripts/test.sh unit|integration|e2e|all
#
# Run through scripts/toolchain.sh (the root package.json scripts do that).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mode="${1:-all}"
RESULTS="$ROOT/node_modules/.cache/test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"

# Never watch mode; never Docker (there is none here).
export CI=true
export BACKSTAGE_TEST_DISABLE_DOCKER=1

# Database tests run on SQLite always, and on PostgreSQL when one answers.
PG_URL="${BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING:-postgresql://postgres@127.0.0.1:5432/postgres}"
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
fi

status=0
run_jest() { # name, extra jest args...
  local name="$1"; shift
  echo "[test] jest: $name"
  backstage-cli repo test --json --outputFile="$RESULTS/jest-$name.json" "$@" || status=1
}

run_e2e() {
  echo "[test] e2e: a real browser against the built app and backend"
  bash "$ROOT/scripts/e2e.sh" "$RESULTS/playwright.json" || status=1
}

case "$mode" in
  unit) run_jest unit --testPathIgnorePatterns '\.integration\.test\.' ;;
  integration) run_jest integration --testPathPatterns '\.integration\.test\.' ;;
  e2e) run_e2e ;;
  all)
    run_jest unit --testPathIgnorePatterns '\.integration\.test\.'
    run_jest integration --testPathPatterns '\.integration\.test\.'
    run_e2e
    ;;
  *) echo "usage: $0 unit|integration|e2e|all" >&2; exit 2 ;;
esac

node "$ROOT/scripts/summarize-results.js" "$RESULTS" || status=1
exit $status
