# Osprey's two commands. Both install what is missing first (scripts/setup.sh), idempotently.
#
#   make run    build in release mode and serve http://127.0.0.1:3000 with live demo data
#   make test   every test: unit, HTTP, storage on SQLite and PostgreSQL, wasm build, Playwright

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/osprey/target
export OSPREY_SITE_DIR ?= $(CARGO_TARGET_DIR)/site
export OSPREY_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
export CARGO_TERM_COLOR ?= never
# CI builds each clean clone once: incremental caches would only fill the disk.
ifdef CI
export CARGO_INCREMENTAL = 0
endif

.PHONY: run test setup setup-build site lint test-rust test-e2e test-fuzz bench-ingest bench-otlp bench-query bench-gpu bench-criterion eval-nab eval-forecast

run: setup-build site
	cargo build --release -p server --bin osprey
	$(CARGO_TARGET_DIR)/release/osprey serve --demo

test: setup site lint test-rust test-fuzz test-e2e

setup:
	@scripts/setup.sh

# Only what building needs (no browser).
setup-build:
	@scripts/setup.sh build

# The hydrate (wasm) build: this is also the test that nothing server-only reaches the browser.
site:
	@scripts/build-site.sh

test-rust:
	@scripts/ensure-postgres.sh
	cargo test -p server -p app -p gpu -p detect -p alerts -p notify -p otlp --features app/ssr --no-fail-fast

# Each fuzz target briefly on its seed corpus (cargo-fuzz); scripts/fuzz.sh TARGET SECONDS for longer.
test-fuzz:
	FUZZ_SECONDS=10 scripts/fuzz.sh

test-e2e:
	cargo build -p server --bin osprey
	cd end2end && OSPREY_BIN=$(CARGO_TARGET_DIR)/debug/osprey npx playwright test

# rustfmt and clippy on both feature sets: the server's (ssr) and the browser's (hydrate, wasm).
lint:
	cargo fmt --all --check
	cargo clippy -p server -p app -p gpu -p detect -p alerts -p notify -p otlp --features app/ssr,server/load --all-targets -- -D warnings
	cargo clippy -p frontend -p app -p gpu --features app/hydrate --target wasm32-unknown-unknown -- -D warnings

bench-ingest: setup site
	cargo build --release -p server --features load --bin osprey --bin osprey-load
	scripts/bench-ingest

bench-otlp: setup site
	cargo build --release -p server --features load --bin osprey --bin osprey-load
	scripts/bench-otlp

bench-query: setup site
	cargo build --release -p server --features load --bin osprey --bin osprey-load
	scripts/bench-query

bench-gpu: setup site
	cargo build --release -p server --bin osprey
	scripts/bench-gpu

# Criterion: decode + validate + write of a 1000-item batch; downsampling a million points;
# the detector's streaming update and a forecast fit; one alert evaluation of 10 000 rules and
# tick-to-webhook latency; alert state machine and dispatcher.
bench-criterion:
	cargo bench -p server --bench ingest
	cargo bench -p server --bench alerting
	cargo bench -p app --features ssr --bench downsample
	cargo bench -p detect --bench update
	cargo bench -p alerts --bench evaluate

# The forecaster on held-back tails of the NAB series: MASE and sMAPE against seasonal-naive.
eval-forecast:
	cargo run -p detect --release --bin forecast-eval -- $(or $(NAB_DIR),../shared/nab)

# The anomaly detector on the labelled NAB corpus in ../shared/nab: three normalised scores.
eval-nab:
	cargo run -p detect --release --bin nab-eval -- $(or $(NAB_DIR),../shared/nab)
