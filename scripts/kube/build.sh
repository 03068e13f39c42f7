#!/usr/bin/env bash
# Builds a real Kubernetes control plane for the tests: kube-apiserver,
# kube-controller-manager and kube-scheduler 1.20.2, from Debian's source
# package `kubernetes` (full vendor tree, no network during the build) with
# Debian's golang-go. etcd comes from Debian's etcd-server (installed here too).
#
#   bash scripts/kube/build.sh           build once; instant when cached
#   bash scripts/kube/build.sh --check   no build: exit 0 built, 3 buildable, 1 not (reason on stdout)
#   bash scripts/kube/build.sh --print   print the binaries' directory
#
# The binaries live OUTSIDE the checkout, so every worktree and CI run on this
# machine shares them:  ${PLUGIN_LIFECYCLE_KUBE_CACHE:-$HOME/.cache/plugin-lifecycle/kubernetes-1.20.2}/bin
# Installs missing Debian packages (golang-go rsync etcd-server dpkg-dev) when
# this user may (root or password-less sudo) unless PLUGIN_LIFECYCLE_NO_INSTALL=1.
# The source comes through apt-get source; when the machine has no deb-src
# entries, a private apt configuration derived from its deb entries is used
# (the machine's own apt configuration is not changed).
# About 4 minutes on 2 cores (cold); PLUGIN_LIFECYCLE_KUBE_NICE (default 10)
# sets the build's niceness. Exit codes: 0 built, 1 cannot build (why is printed).
set -euo pipefail

VERSION=1.20.2
CACHE="${PLUGIN_LIFECYCLE_KUBE_CACHE:-${HOME:-/root}/.cache/plugin-lifecycle/kubernetes-$VERSION}"
BIN="$CACHE/bin"
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler)
PACKAGES=(golang-go rsync etcd-server dpkg-dev make)
NICE="${PLUGIN_LIFECYCLE_KUBE_NICE:-10}"

log() { echo "[kube-build] $*" >&2; }
# Says why it cannot build, on stdout (the test harness shows it), and stops.
cannot() {
  echo "cannot build Kubernetes $VERSION: $*"
  exit 1
}

built() {
  local c
  for c in "${COMPONENTS[@]}"; do [[ -x "$BIN/$c" ]] || return 1; done
  [[ -f "$BIN/BUILD-INFO" ]]
}

may_install() {
  [[ "${PLUGIN_LIFECYCLE_NO_INSTALL:-}" != 1 ]] && command -v apt-get >/dev/null &&
    { [[ "$(id -u)" == 0 ]] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }
}
as_root() { if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo -n "$@"; fi; }

missing_packages() {
  local p out=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
  done
  echo "${out[@]:-}"
}

# Why the build cannot run here, or nothing when it can (cheap: no network).
obstacle() {
  command -v apt-get >/dev/null || { echo "this is not a Debian-like system (no apt-get)"; return; }
  local missing
  missing="$(missing_packages)"
  if [[ -n "$missing" ]] && ! may_install; then
    if [[ "${PLUGIN_LIFECYCLE_NO_INSTALL:-}" == 1 ]]; then
      echo "Debian packages missing ($missing) and PLUGIN_LIFECYCLE_NO_INSTALL=1; run: sudo apt-get install -y $missing"
    else
      echo "Debian packages missing ($missing) and this user may not install them; run: sudo apt-get install -y $missing"
    fi
  fi
}

case "${1:-}" in
  --print) echo "$BIN"; exit 0 ;;
  --check)
    if built; then echo "built in $BIN"; exit 0; fi
    why="$(obstacle)"
    if [[ -n "$why" ]]; then echo "cannot build Kubernetes $VERSION: $why"; exit 1; fi
    echo "they can be built here: run 'bash scripts/kube/build.sh' (about 4 minutes on 2 cores)"
    exit 3
    ;;
  "") ;;
  *) echo "usage: $0 [--check|--print]" >&2; exit 2 ;;
esac

if built; then
  log "already built: $BIN ($(head -n 1 "$BIN/BUILD-INFO"))"
  exit 0
fi

mkdir -p "$CACHE"
# One build at a time on this machine; a second caller waits and then finds it built.
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "another build is running; waiting for it"
  flock 9
fi
if built; then
  log "built by the other run: $BIN"
  exit 0
fi

started=$(date +%s)
why="$(obstacle)"
[[ -z "$why" ]] || cannot "$why"

missing="$(missing_packages)"
if [[ -n "$missing" ]]; then
  log "installing $missing from Debian (PLUGIN_LIFECYCLE_NO_INSTALL=1 to refuse)"
  apt_log="$(mktemp /tmp/kube-build-apt-XXXXXX.log)"
  # RUNLEVEL=1: etcd-server's package would start a system etcd; the tests run their own.
  if ! { as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
      apt-get install -y -qq --no-install-recommends $missing; } >"$apt_log" 2>&1; then
    tail -20 "$apt_log" >&2
    cannot "apt-get could not install $missing (log: $apt_log)"
  fi
  rm -f "$apt_log"
fi

go_version="$(go env GOVERSION 2>/dev/null || true)"
[[ -n "$go_version" ]] || cannot "the go command does not work (Debian's golang-go)"

WORK="$CACHE/work"
rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() { [[ "${PLUGIN_LIFECYCLE_KUBE_KEEP_WORK:-}" == 1 ]] || rm -rf "$WORK"; }
trap cleanup EXIT

# 1. The source package. apt-get source needs deb-src entries; without them,
# use a private apt state whose deb-src entries mirror the machine's deb ones.
APT_OPTS=()
if ! apt-cache showsrc kubernetes >/dev/null 2>&1 || [[ -z "$(apt-cache showsrc kubernetes 2>/dev/null)" ]]; then
  log "no deb-src entries on this machine: using a private apt configuration in $WORK/apt"
  mkdir -p "$WORK/apt/sources" "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
  n=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    sed -E 's/^Types:.*$/Types: deb-src/' "$f" >"$WORK/apt/sources/$n.sources"
    n=$((n + 1))
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    sed -nE 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$WORK/apt/sources/$n.list"
    n=$((n + 1))
  done
  APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$WORK/apt/sources"
    -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
    -o "APT::Sandbox::User=root")
  apt-get "${APT_OPTS[@]}" update -qq >"$WORK/apt/update.log" 2>&1 ||
    { tail -20 "$WORK/apt/update.log" >&2; cannot "apt-get update of the deb-src entries failed (is Debian's archive reachable?)"; }
fi
src_version="$(apt-cache "${APT_OPTS[@]}" showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p' | grep -F "$VERSION" | head -n 1 || true)"
[[ -n "$src_version" ]] ||
  cannot "Debian's archive here has no source package kubernetes $VERSION (it has: $(apt-cache "${APT_OPTS[@]}" showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p' | tr '\n' ' ')); Debian 12 (bookworm) has 1.20.5+really1.20.2"
log "fetching the source package kubernetes $src_version"
(cd "$WORK" && apt-get "${APT_OPTS[@]}" source -qq "kubernetes=$src_version") >"$WORK/source.log" 2>&1 ||
  { tail -20 "$WORK/source.log" >&2; cannot "apt-get source kubernetes=$src_version failed"; }
SRC="$(find "$WORK" -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
[[ -n "$SRC" && -f "$SRC/Makefile" ]] || cannot "apt-get source left no kubernetes tree in $WORK"

# 2. The build, as Debian's rules do it: the Makefile, no module proxy, no cgo.
# A plain `go build` fails: the Makefile generates code and sets the GOPATH layout.
log "building ${COMPONENTS[*]} with $go_version (about 4 minutes on 2 cores; log: $WORK/build.log)"
whats=()
for c in "${COMPONENTS[@]}"; do whats+=("cmd/$c"); done
if ! (cd "$SRC" && env GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOCACHE="$WORK/go-build" HOME="$WORK/home" \
  nice -n "$NICE" make WHAT="${whats[*]}") >"$WORK/build.log" 2>&1; then
  tail -30 "$WORK/build.log" >&2
  PLUGIN_LIFECYCLE_KUBE_KEEP_WORK=1
  cannot "make failed (the last lines are above; the full log is $WORK/build.log)"
fi

# 3. Into the cache, atomically: a half-copied bin/ never looks built.
rm -rf "$BIN.new"
mkdir -p "$BIN.new"
for c in "${COMPONENTS[@]}"; do cp "$SRC/_output/bin/$c" "$BIN.new/$c"; done
{
  echo "Kubernetes $("$BIN.new/kube-apiserver" --version | awk '{print $2}') from Debian source $src_version, $go_version"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - started))s"
} >"$BIN.new/BUILD-INFO"
rm -rf "$BIN"
mv "$BIN.new" "$BIN"
log "built in $(($(date +%s) - started))s: $BIN"
