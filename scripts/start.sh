#!/usr/bin/env bash
# Starts the Backstage app (:3000) and backend (:7007) on the embedded SQLite
# database under data/, with the example catalog and the sample plugin
# artifacts packed from examples/. Run through scripts/toolchain.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p data/sqlite data/plugin-lifecycle
node examples/scripts/pack.js >/dev/null
# Fewer malloc arenas: the backend keeps far less resident memory after
# bursts of work on large fleets (bench/scale); an environment may override it.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec backstage-cli repo start "$@"
