#!/usr/bin/env bash
# Makes sure the Rust tools that `make test`/`make lint` use are there: rustfmt, clippy and
# cargo-nextest. Installs only what is missing and says nothing otherwise.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup first (https://rustup.rs)"

for component in rustfmt clippy; do
  case "$component" in
    rustfmt) probe=(cargo fmt --version) ;;
    clippy)  probe=(cargo clippy --version) ;;
  esac
  if ! "${probe[@]}" >/dev/null 2>&1; then
    command -v rustup >/dev/null 2>&1 || die "cargo $component is missing and rustup is not there to add it"
    log "adding rustup component $component"
    rustup component add "$component"
  fi
done

if ! cargo nextest --version >/dev/null 2>&1; then
  log "cargo-nextest missing: cargo install --locked cargo-nextest (a few minutes, once)"
  cargo install --locked cargo-nextest
fi
