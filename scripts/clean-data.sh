#!/usr/bin/env bash
# Removes the local state of `make run` (COSTLINE_DATA_DIR, default ./.costline): the private
# PostgreSQL cluster and everything else in it. It stops nothing: if a PostgreSQL server is
# still running from that folder (a `costline serve` is up), it refuses and says so.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$COSTLINE_ROOT"

data_dir="${COSTLINE_DATA_DIR:-./.costline}"
[ -e "$data_dir" ] || exit 0

case "$(realpath -m "$data_dir")" in
  / | "$HOME" | "$(realpath -m "$COSTLINE_ROOT")")
    die "refusing to remove '$data_dir'" ;;
esac

while IFS= read -r pidfile; do
  pid="$(head -n1 "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    die "PostgreSQL (pid $pid) is still running from $(dirname "$pidfile"): stop costline (Ctrl-C) first"
  fi
done < <(find "$data_dir" -name postmaster.pid -type f 2>/dev/null)

rm -rf -- "$data_dir"
log "removed $data_dir"
