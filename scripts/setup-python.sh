#!/usr/bin/env bash
# Creates the repo-local virtual environment .venv with the Python tools the tests, lints and
# benchmarks use (see scripts/requirements-dev.txt): moto (AWS emulator: tests start
# .venv/bin/moto_server themselves), cfn-lint, checkov, duckdb and polars.
#
# pip runs only when scripts/requirements-dev.txt changed since the last successful install
# (its hash is kept in .venv/.requirements-stamp) or the venv is missing or broken.
# Environment: PYTHON (interpreter to build the venv from, default python3), VENV (default .venv).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="${VENV:-$COSTLINE_ROOT/.venv}"
req="$COSTLINE_ROOT/scripts/requirements-dev.txt"
stamp="$venv/.requirements-stamp"
python="${PYTHON:-python3}"

[ -f "$req" ] || die "missing $req"
want_stamp="$(sha256sum "$req" | cut -d' ' -f1)"

venv_ok() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1
}

if venv_ok && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] \
   && [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/cfn-lint" ] && [ -x "$venv/bin/checkov" ]; then
  exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

if ! venv_ok; then
  python_venv_works || die "'$python -m venv' does not work: run scripts/setup-system.sh (installs python3-venv)"
  rm -rf "$venv"
  log "creating $venv with $("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi

log "installing $(realpath --relative-to="$COSTLINE_ROOT" "$req") into $venv (once per change of that file)"
rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet --upgrade -r "$req"
"$venv/bin/python" -m pip check >/dev/null || log "warning: pip check reports conflicts (see: $venv/bin/python -m pip check)"
printf '%s\n' "$want_stamp" > "$stamp"
