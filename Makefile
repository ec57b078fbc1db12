# Costline developer entry points. Each target installs what it needs first (idempotent, quiet
# when nothing is missing), so on a fresh Debian 12 machine with Rust:
#   make run    -> http://127.0.0.1:8080 on a private PostgreSQL under ./.costline
#   make test   -> fmt check, clippy -D warnings, the whole nextest suite
# Why it looks like this: docs/adr/0002-dev-tooling.md.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo
VENV  := $(CURDIR)/.venv

# What the tests and benchmarks look for (the Rust code reads these).
export COSTLINE_MOTO_BIN     ?= $(VENV)/bin/moto_server
export COSTLINE_CHROMEDRIVER ?= /usr/bin/chromedriver
export COSTLINE_CHROMIUM     ?= /usr/bin/chromium
export COSTLINE_PYTHON       ?= $(VENV)/bin/python

# CI (CI=true): plain logs, no incremental state in a fresh clone, backtraces, every failure shown.
ifneq ($(filter true TRUE 1 yes,$(CI)),)
export CARGO_TERM_COLOR   ?= never
export CARGO_INCREMENTAL  ?= 0
export RUST_BACKTRACE     ?= 1
NEXTEST_ARGS ?= --no-fail-fast
FMT_ARGS ?= --color=never
endif
NEXTEST_ARGS ?=
FMT_ARGS ?=
# Extra arguments for `make bench`, e.g. make bench BENCH_ARGS='-p costline-cur'
BENCH_ARGS ?=

SETUP_SYSTEM := bash scripts/setup-system.sh
SETUP_RUST   := bash scripts/setup-rust.sh
SETUP_PYTHON := bash scripts/setup-python.sh

.PHONY: help setup run build test lint lint-templates fmt fmt-check clippy nextest bench clean-data

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

setup: ## install everything every target needs (Debian packages, Rust tools, .venv)
	@$(SETUP_SYSTEM) all
	@$(SETUP_RUST)
	@$(SETUP_PYTHON)

build: ## build the release binary target/release/costline
	@$(SETUP_SYSTEM) base
	$(CARGO) build --release -p costline

# The binary starts (or reuses) its private PostgreSQL under COSTLINE_DATA_DIR (./.costline) when
# DATABASE_URL is unset. `exec` makes costline the recipe's process, outside any pipe, so the
# terminal's Ctrl-C reaches it directly and it stops its PostgreSQL before exiting. A local
# server has no SMTP to confirm sign-ups with: sign-up is `open` unless COSTLINE_SIGNUP says.
run: ## install what is missing, build, serve at http://127.0.0.1:8080 (Ctrl-C stops it)
	@$(SETUP_SYSTEM) run
	$(CARGO) build --release -p costline
	@echo "make run: costline serve on http://$${COSTLINE_LISTEN:-127.0.0.1:8080} (data: $${COSTLINE_DATA_DIR:-./.costline}, sign-up: $${COSTLINE_SIGNUP:-open}); Ctrl-C stops it"
	COSTLINE_SIGNUP="$${COSTLINE_SIGNUP:-open}" exec ./target/release/costline serve

test: ## install what is missing, then fmt check, clippy -D warnings, template lints, cargo nextest run --workspace
	@$(SETUP_SYSTEM) test
	@$(SETUP_RUST)
	@$(SETUP_PYTHON)
	$(CARGO) fmt --all -- --check $(FMT_ARGS)
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@bash scripts/lint-templates.sh
	$(CARGO) nextest run --workspace --no-tests=warn $(NEXTEST_ARGS)

lint: ## fmt check, clippy -D warnings, cfn-lint and checkov on cloudformation/ and terraform/
	@$(SETUP_SYSTEM) lint
	@$(SETUP_RUST)
	@$(SETUP_PYTHON)
	$(CARGO) fmt --all -- --check $(FMT_ARGS)
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@bash scripts/lint-templates.sh

lint-templates: ## cfn-lint and checkov only (empty template folders are skipped)
	@$(SETUP_SYSTEM) lint
	@$(SETUP_PYTHON)
	@bash scripts/lint-templates.sh

fmt: ## format the code (cargo fmt --all)
	$(CARGO) fmt --all

fmt-check: ## check formatting only
	$(CARGO) fmt --all -- --check $(FMT_ARGS)

clippy: ## clippy only, warnings are errors
	@$(SETUP_RUST)
	$(CARGO) clippy --workspace --all-targets -- -D warnings

nextest: ## the test suite only (no fmt/clippy), e.g. make nextest NEXTEST_ARGS='-E test(cur)'
	@$(SETUP_SYSTEM) test
	@$(SETUP_RUST)
	@$(SETUP_PYTHON)
	$(CARGO) nextest run --workspace --no-tests=warn $(NEXTEST_ARGS)

bench: ## install what is missing, then the project benchmarks (scripts/bench.sh)
	@bash scripts/bench.sh $(BENCH_ARGS)

clean-data: ## remove ./.costline (refuses while its PostgreSQL is running; stops nothing)
	@bash scripts/clean-data.sh
