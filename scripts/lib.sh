# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.

# The repository root, whatever the caller's working directory.
COSTLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export COSTLINE_ROOT

# Quiet unless something happens: scripts print only what they change.
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo when it exists,
# and fails with a clear message otherwise. Non-interactive sudo when there is no terminal
# (CI has no stdin), so a password prompt fails fast instead of hanging.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
  else
    die "need root to run: $* (run as root or install sudo)"
  fi
}

# True when Debian package $1 is installed (not merely known or half-removed).
deb_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

# True when some python3 on PATH can make a virtual environment with pip in it
# (Debian's python3 without python3-venv has no ensurepip).
python_venv_works() {
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null 2>&1 && "$py" -c 'import venv, ensurepip' >/dev/null 2>&1
}
