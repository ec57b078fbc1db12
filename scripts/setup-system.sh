#!/usr/bin/env bash
# Installs the Debian packages Costline needs to build, run, test and benchmark.
#
#   scripts/setup-system.sh [GROUP...]      GROUP: base run test bench lint all (default: all)
#
#   base   C toolchain and pkg-config for crates that build C (ring, aws-lc-sys, ...)
#   run    base + PostgreSQL server binaries (the embedded cluster: /usr/lib/postgresql/*/bin)
#   test   run + Chromium and ChromeDriver (browser tests), pigz, python3 with venv
#   bench  base + pigz + python3 with venv (duckdb/polars peers)
#   lint   base + python3 with venv (cfn-lint, checkov)
#   all    everything above
#
# Idempotent: checks what is there first and says nothing when nothing is missing; runs
# `apt-get update` only when something must be installed. Uses sudo only when not root.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v dpkg-query >/dev/null 2>&1 || die "this script expects Debian/Ubuntu (dpkg and apt-get)"

want=()
add() { want+=("$@"); }

group_base()   { add build-essential pkg-config ca-certificates; }
group_pg()     { add postgresql; }
group_chrome() { add chromium chromium-driver fonts-liberation; }
group_pigz()   { add pigz; }
group_python() { python_venv_works || add python3 python3-venv; }

[ "$#" -gt 0 ] || set -- all
for group in "$@"; do
  case "$group" in
    base)  group_base ;;
    run)   group_base; group_pg ;;
    test)  group_base; group_pg; group_chrome; group_pigz; group_python ;;
    bench) group_base; group_pigz; group_python ;;
    lint)  group_base; group_python ;;
    all)   group_base; group_pg; group_chrome; group_pigz; group_python ;;
    *) die "unknown group '$group' (expected: base run test bench lint all)" ;;
  esac
done

# Any PostgreSQL major version in Debian's layout will do (the Rust code searches
# /usr/lib/postgresql/*/bin), so a machine with e.g. postgresql-16 only needs nothing.
have_pg_server() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && return 0
  done
  return 1
}

missing=()
declare -A seen=()
for pkg in "${want[@]}"; do
  [ -z "${seen[$pkg]:-}" ] || continue
  seen[$pkg]=1
  case "$pkg" in
    postgresql) have_pg_server && continue ;;
  esac
  deb_installed "$pkg" || missing+=("$pkg")
done

[ "${#missing[@]}" -eq 0 ] && exit 0

log "installing Debian packages: ${missing[*]}"
apt_env=(env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a)
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
# A failing third-party source should not stop us from installing from Debian's own.
as_root "${apt_env[@]}" apt-get "${apt_opts[@]}" -qq update \
  || log "warning: apt-get update reported errors; trying to install anyway"
as_root "${apt_env[@]}" apt-get "${apt_opts[@]}" -q -y --no-install-recommends install "${missing[@]}"

# Check that what the tests rely on is where they look for it.
for pkg in "${missing[@]}"; do
  case "$pkg" in
    chromium)        [ -x /usr/bin/chromium ] || die "chromium installed but /usr/bin/chromium is missing" ;;
    chromium-driver) [ -x /usr/bin/chromedriver ] || die "chromium-driver installed but /usr/bin/chromedriver is missing" ;;
    postgresql)      have_pg_server || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb" ;;
    python3-venv)    python_venv_works || die "python3-venv installed but '${PYTHON:-python3} -m venv' still does not work" ;;
  esac
done
