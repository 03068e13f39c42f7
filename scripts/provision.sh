#!/usr/bin/env bash
# What the test suites need from the machine, beyond what scripts/toolchain.sh
# brings from the npm registry: Debian's chromium (end-to-end tests), nginx
# (the native data plane's tests), curl and jq (the README's examples),
# prometheus with promtool (the metrics export's and alert rules' tests), and a
# PostgreSQL that is running when the machine has one.
#
#   source scripts/provision.sh; provision unit|integration|e2e|all
#
# Installs what is missing with apt-get when this user may (root, or sudo
# without a password) unless PLUGIN_LIFECYCLE_NO_INSTALL=1; otherwise says
# which command to run. What is still missing afterwards is listed in
# PROVISION_MISSING (package names) for the caller to count against the suites.

# binary path -> Debian package
declare -A PROVISION_BINARIES=(
  [/usr/bin/chromium]=chromium
  [/usr/sbin/nginx]=nginx
  [curl]=curl
  [jq]=jq
  [/usr/bin/prometheus]=prometheus
)

provision_needs() { # mode -> the binaries its suites use
  case "$1" in
    unit) echo /usr/sbin/nginx ;;
    integration) echo /usr/sbin/nginx curl jq /usr/bin/prometheus ;;
    e2e) echo /usr/bin/chromium ;;
    all) echo /usr/sbin/nginx curl jq /usr/bin/prometheus /usr/bin/chromium ;;
  esac
}

provision_has() { # binary
  if [[ "$1" == /* ]]; then [[ -x "$1" ]]; else command -v "$1" >/dev/null; fi
}

provision_sudo() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

provision_may_install() {
  [[ "${PLUGIN_LIFECYCLE_NO_INSTALL:-}" != 1 ]] && command -v apt-get >/dev/null &&
    { [[ "$(id -u)" == 0 ]] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }
}

provision() { # mode
  local mode="$1" binary packages=()
  PROVISION_MISSING=()
  for binary in $(provision_needs "$mode"); do
    provision_has "$binary" || packages+=("${PROVISION_BINARIES[$binary]}")
  done
  if [[ ${#packages[@]} -gt 0 ]]; then
    if provision_may_install; then
      echo "[test] installing ${packages[*]} from Debian (once; PLUGIN_LIFECYCLE_NO_INSTALL=1 to refuse)"
      local log
      log="$(mktemp /tmp/plugin-lifecycle-apt-XXXXXX.log)"
      if ! { provision_sudo apt-get update -qq &&
        provision_sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
          apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >"$log" 2>&1; then
        echo "[test] apt-get could not install ${packages[*]}:"
        tail -20 "$log"
      fi
      # Debian's nginx package starts a server on port 80; the tests run their own.
      if pgrep -f 'nginx: master process /usr/sbin/nginx -g' >/dev/null; then
        provision_sudo /usr/sbin/nginx -s quit 2>/dev/null || true
      fi
    fi
    for binary in $(provision_needs "$mode"); do
      provision_has "$binary" || PROVISION_MISSING+=("${PROVISION_BINARIES[$binary]}")
    done
    if [[ ${#PROVISION_MISSING[@]} -gt 0 ]]; then
      echo "[test] missing from this machine: ${PROVISION_MISSING[*]}; install them with:"
      echo "[test]   sudo apt-get install -y ${PROVISION_MISSING[*]}"
    fi
  fi

  # PostgreSQL: started when the machine has a cluster that stopped.
  if command -v pg_ctlcluster >/dev/null && command -v pg_isready >/dev/null &&
    ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    local cluster
    cluster="$(ls /etc/postgresql 2>/dev/null | head -n 1)"
    if [[ -n "$cluster" ]]; then
      echo "[test] starting PostgreSQL $cluster"
      provision_sudo pg_ctlcluster --skip-systemctl-redirect "$cluster" main start >/dev/null 2>&1 || true
    fi
  fi
}
