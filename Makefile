# The commands the README names. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: run test lint fmt bench build

## Build and start the server on the embedded defaults (SQLite in ./data, 127.0.0.1:8080).
run:
	$(CARGO) run --release -p teamcontext -- serve

## Formatting, clippy with warnings as errors, then every test of every crate.
test: lint
	$(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --release -p teamcontext

## Throughput, login latency and memory of the release server (prints a table).
bench:
	scripts/bench.sh
