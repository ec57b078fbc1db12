#!/usr/bin/env bash
# Runs the project's benchmarks (`make bench`). With arguments, they go to `cargo bench` as they
# are, e.g. `scripts/bench.sh -p costline-cur`. Without, every bench target runs, in this order:
#   1. costline-cur  cur_parse   the generated month (cached under target/bench-data): gzip limit
#                                (pigz, flate2), parse+normalize on one core, DuckDB and polars
#   2. costline      cur_ingest  the same month from the emulator's S3 into PostgreSQL through a
#                                real `costline worker`, with its peak RSS; prints the whole table
#   3. every other bench target of the workspace (cost API latency, job queue, revocation, ...)
# Peers are found through the environment: COSTLINE_PYTHON (the .venv interpreter with duckdb and
# polars), COSTLINE_MOTO_BIN, pigz on PATH. Sizes: COSTLINE_BENCH_CUR_ROWS (default 2000000),
# COSTLINE_BENCH_JOBS, COSTLINE_BENCH_REVOKE_ROWS (see each benchmark's header).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$COSTLINE_ROOT"

bash scripts/setup-system.sh bench run
bash scripts/setup-python.sh

export COSTLINE_PYTHON="${COSTLINE_PYTHON:-$COSTLINE_ROOT/.venv/bin/python}"
export COSTLINE_MOTO_BIN="${COSTLINE_MOTO_BIN:-$COSTLINE_ROOT/.venv/bin/moto_server}"
export COSTLINE_BENCH_DATA="${COSTLINE_BENCH_DATA:-$COSTLINE_ROOT/target/bench-data}"

# --- Revocation benchmark (issue 7; benches/revocation.rs, run below with the other bench
# targets): revokes an integration holding this many line items; the target is under 1 s.
export COSTLINE_BENCH_REVOKE_ROWS="${COSTLINE_BENCH_REVOKE_ROWS:-10000000}"
# --- end of the revocation block

start=$(date +%s)
if [ "$#" -gt 0 ]; then
  echo "+ cargo bench $*"
  cargo bench "$@"
else
  # Build every bench target once (bench targets only: no library test harnesses).
  echo "+ cargo bench --workspace --benches --no-run"
  cargo bench --workspace --benches --no-run
  echo "+ cargo bench -p costline-cur --bench cur_parse"
  cargo bench -p costline-cur --bench cur_parse
  echo "+ cargo bench -p costline --bench cur_ingest"
  cargo bench -p costline --bench cur_ingest
  # Then every other bench target, whatever later work adds.
  others=$(cargo metadata --no-deps --format-version 1 | "$COSTLINE_PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "bench" in t["kind"] and t["name"] not in ("cur_parse", "cur_ingest"):
            print(p["name"], t["name"])')
  while read -r package target; do
    [ -n "$package" ] || continue
    echo "+ cargo bench -p $package --bench $target"
    cargo bench -p "$package" --bench "$target"
  done <<< "$others"
fi
echo "bench: done in $(( $(date +%s) - start ))s"
