#!/usr/bin/env bash
# Runs the project's benchmarks. Arguments are passed to `cargo bench`, e.g.
#   scripts/bench.sh -p costline-cur
# Benchmarks that compare against peers find them through the environment:
#   COSTLINE_PYTHON (the .venv interpreter with duckdb and polars), pigz on PATH.
# Later benchmark drivers (end-to-end ingest, load tests) belong here too.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$COSTLINE_ROOT"

bash scripts/setup-system.sh bench run
bash scripts/setup-python.sh

export COSTLINE_PYTHON="${COSTLINE_PYTHON:-$COSTLINE_ROOT/.venv/bin/python}"
export COSTLINE_MOTO_BIN="${COSTLINE_MOTO_BIN:-$COSTLINE_ROOT/.venv/bin/moto_server}"

start=$(date +%s)
echo "+ cargo bench --workspace $*"
cargo bench --workspace "$@"
echo "bench: done in $(( $(date +%s) - start ))s"
