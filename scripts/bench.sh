#!/usr/bin/env bash
# `make bench`: measures the release server as a user would meet it, with a load tool in a
# second process on loopback. Prints a markdown table (copy it into docs/benchmarks.md).
#
#   - authenticated GET /api/v1/projects with an API key: requests/s and latency (wrk)
#   - POST /api/v1/auth/login: latency, i.e. the argon2id cost (wrk, one connection)
#   - the server's resident memory at idle and after the load
#   - search latency over this repository's own docs and code, the same query through REST
#     (POST /context/search), through MCP (tools/call get_relevant_context on a session) and as
#     the dashboard's search page (GET /search with a browser session, rendered as HTML)
#   - the vector index alone: 100k and 1M synthetic passages, project filters of 1/10/100%
#   - a codebase scan of the tokio 1.54.1 source (fetched through cargo) and its unchanged
#     re-scan, end to end through `teamcontext scan`, and search latency while a scan runs
#     (BENCH_SKIP_SCAN=1 skips them)
#   - SQLite and PostgreSQL side by side through the Store trait: save throughput, filtered
#     vector search latency and recall (PostgreSQL from scripts/start-postgres.sh)
#   - analytics reports over 1M events (seeded through the store, read over HTTP)
#   - a streamed chat turn with the fake model: time to the first event, the sources, the first
#     delta and `done`
#   - local embedding throughput, side by side with sentence-transformers (PyTorch) on the same
#     texts; PyTorch is installed with pip into .bench-venv on first use (several minutes;
#     BENCH_SKIP_PYTORCH=1 skips the comparison)
#   - serial saves of 900-character code chunks, fp32 and int8, taking turns with
#     sentence-transformers encoding the same chunks one at a time (scripts/bench-serial.py)
#   - the soak (scripts/bench-soak.sh): 64 clients for 5 minutes, mixed REST and MCP, on a fresh
#     server: errors, p50/p99 per operation, RSS (BENCH_SKIP_SOAK=1 skips it)
#
# Rate limits are switched off for the run (they would cap the load at 100 requests/min).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package) ..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi

MODEL_DIR=${MODEL_DIR:-.model-cache/all-MiniLM-L6-v2}
scripts/fetch-model.sh "$MODEL_DIR"
MODEL_DIR=$(cd "$MODEL_DIR" && pwd)
cargo build --release -q -p teamcontext
BIN=${CARGO_TARGET_DIR:-target}/release/teamcontext
DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT/api/v1"
TEAMCONTEXT_DATA_DIR="$DATA" BIND_ADDR="127.0.0.1:$PORT" LOG_LEVEL=warn LOG_FORMAT=json EMBEDDING_MODEL_DIR="$MODEL_DIR" \
  RATE_LIMIT_PER_KEY_PER_MIN=0 RATE_LIMIT_PER_IP_PER_MIN=0 RATE_LIMIT_SEARCH_PER_MIN=0 RATE_LIMIT_LOGIN_PER_MIN=0 "$BIN" serve >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT

for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/health" >/dev/null || { echo "server did not start"; cat "$DATA/server.log"; exit 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
IDLE_RSS=$(rss_kib)

REG=$(curl -sf -X POST "$BASE/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password","name":"Bench"}')
KEY=$(printf '%s' "$REG" | python3 -c 'import sys, json; print(json.load(sys.stdin)["api_key"]["key"])')
for i in 1 2 3 4 5; do
  curl -sf -X POST "$BASE/projects" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "{\"name\":\"project $i\",\"description\":\"benchmark project $i\"}" >/dev/null
done

# wrk prints latency in us/ms/s; normalise to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}'; }
pct() { awk -v p="$1" '$1 == p"%" {print $2}' | to_ms; }

LIST=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $KEY" "$BASE/projects")
LIST_RPS=$(printf '%s\n' "$LIST" | awk '/Requests\/sec/ {printf "%.0f", $2}')
LIST_P50=$(printf '%s\n' "$LIST" | pct 50)
LIST_P99=$(printf '%s\n' "$LIST" | pct 99)
LIST_ERRS=$(printf '%s\n' "$LIST" | awk '/Non-2xx/ {print $NF}')
LOADED_RSS=$(rss_kib)

cat >"$DATA/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"bench password"}'
LUA
LOGIN=$(wrk -t1 -c1 -d"$DURATION" --latency -s "$DATA/login.lua" "$BASE/auth/login")
LOGIN_P50=$(printf '%s\n' "$LOGIN" | pct 50)
LOGIN_P99=$(printf '%s\n' "$LOGIN" | pct 99)
LOGIN_RPS=$(printf '%s\n' "$LOGIN" | awk '/Requests\/sec/ {printf "%.1f", $2}')

# Search: real text (this repository's Markdown and Rust, in paragraphs) in one project.
PROJECT=$(curl -sf -X POST "$BASE/projects" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"name":"teamcontext","description":"the TeamContext server: its docs and Rust code"}' \
  | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])')
SEEDED=$(python3 - "$BASE" "$KEY" "$PROJECT" <<'PY'
import glob, json, sys, urllib.request
base, key, project = sys.argv[1:]
count = 0
for path in sorted(glob.glob("README.md") + glob.glob("docs/*.md") + glob.glob("crates/*/src/**/*.rs", recursive=True)):
    text = open(path, encoding="utf-8").read()
    for para in (p.strip() for p in text.split("\n\n")):
        if len(para) < 200:
            continue
        body = json.dumps({"content": para, "project_id": project, "metadata": {"file_path": path}}).encode()
        req = urllib.request.Request(base + "/context/save", body, {"authorization": "Bearer " + key, "content-type": "application/json"})
        urllib.request.urlopen(req).read()
        count += 1
print(count)
PY
)
QUERY="how are refresh tokens rotated and what happens when one is reused"
cat >"$DATA/search.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"$QUERY","project_ids":["$PROJECT"],"limit":5,"similarity_threshold":0.3,"mode":"hybrid"}'
LUA
REST=$(wrk -t1 -c1 -d"$DURATION" --latency -H "Authorization: Bearer $KEY" -s "$DATA/search.lua" "$BASE/context/search")
MCP_URL="http://127.0.0.1:$PORT/mcp"
SESSION=$(curl -s -D - -o /dev/null -X POST "$MCP_URL" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  -H 'accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
  | awk 'tolower($1) == "mcp-session-id:" {print $2}' | tr -d '\r')
curl -sf -X POST "$MCP_URL" -H "authorization: Bearer $KEY" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -H "mcp-session-id: $SESSION" -H 'mcp-protocol-version: 2025-06-18' -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
cat >"$DATA/mcp.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "$SESSION"
wrk.headers["Mcp-Protocol-Version"] = "2025-06-18"
wrk.body = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_relevant_context","arguments":{"query":"$QUERY","project_id":"$PROJECT","limit":5}}}'
LUA
MCP=$(wrk -t1 -c1 -d"$DURATION" --latency -H "Authorization: Bearer $KEY" -s "$DATA/mcp.lua" "$MCP_URL")
# The MCP answer must really be the search result, not an error.
curl -sf -X POST "$MCP_URL" -H "authorization: Bearer $KEY" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -H "mcp-session-id: $SESSION" -H 'mcp-protocol-version: 2025-06-18' \
  -d "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"get_relevant_context\",\"arguments\":{\"query\":\"$QUERY\",\"project_id\":\"$PROJECT\",\"limit\":5}}}" \
  | grep -q '"isError":false' || { echo "MCP search failed"; exit 1; }
# The dashboard's search page: the same query rendered as HTML for a signed-in browser session,
# beside the JSON endpoint asked what the page asks (limit 20, the default threshold).
WEB="http://127.0.0.1:$PORT"
JAR="$DATA/cookies"
PRE=$(curl -sf -c "$JAR" "$WEB/login" | python3 -c 'import re, sys; print(re.search(r"name=\"csrf\" value=\"([^\"]+)", sys.stdin.read()).group(1))')
curl -sf -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "csrf=$PRE" --data-urlencode "email=bench@example.com" \
  --data-urlencode "password=bench password" "$WEB/login"
WEB_SESSION=$(awk '$6 == "tc_session" {print $7}' "$JAR")
[ -n "$WEB_SESSION" ] || { echo "dashboard sign-in failed"; exit 1; }
WEB_QUERY=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$QUERY")
curl -sf -H "cookie: tc_session=$WEB_SESSION" "$WEB/search?q=$WEB_QUERY&mode=hybrid&project=$PROJECT" | grep -q '<ol class="results">' \
  || { echo "dashboard search failed"; exit 1; }
PAGE=$(wrk -t1 -c1 -d"$DURATION" --latency -H "cookie: tc_session=$WEB_SESSION" "$WEB/search?q=$WEB_QUERY&mode=hybrid&project=$PROJECT")
cat >"$DATA/search20.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"$QUERY","project_ids":["$PROJECT"],"limit":20,"mode":"hybrid"}'
LUA
JSON20=$(wrk -t1 -c1 -d"$DURATION" --latency -H "Authorization: Bearer $KEY" -s "$DATA/search20.lua" "$BASE/context/search")
search_row() {
  printf '| %s (1 connection, %s contexts) | %s searches/s, p50 %s ms, p99 %s ms%s |\n' "$1" "$SEEDED" \
    "$(printf '%s\n' "$2" | awk '/Requests\/sec/ {printf "%.1f", $2}')" \
    "$(printf '%s\n' "$2" | pct 50)" "$(printf '%s\n' "$2" | pct 99)" \
    "$(printf '%s\n' "$2" | awk '/Non-2xx/ {print ", non-2xx: " $NF}')"
}

echo
echo "TeamContext $("$BIN" --version | awk '{print $2}') on $(nproc) cores, $(date -u +%Y-%m-%d); wrk ${DURATION}, SQLite"
echo
echo "| measurement | result |"
echo "| --- | --- |"
echo "| GET /api/v1/projects with an API key ($CONNECTIONS connections) | ${LIST_RPS} req/s, p50 ${LIST_P50} ms, p99 ${LIST_P99} ms${LIST_ERRS:+, non-2xx: $LIST_ERRS} |"
echo "| POST /api/v1/auth/login (argon2id m=19 MiB t=2 p=1, 1 connection) | p50 ${LOGIN_P50} ms, p99 ${LOGIN_P99} ms (${LOGIN_RPS} logins/s) |"
echo "| server RSS, idle after start | $((IDLE_RSS / 1024)) MiB |"
echo "| server RSS, after the load | $((LOADED_RSS / 1024)) MiB |"
search_row "REST POST /api/v1/context/search, hybrid, limit 5" "$REST"
search_row "MCP tools/call get_relevant_context, same query" "$MCP"
search_row "REST POST /api/v1/context/search, hybrid, limit 20 (what the dashboard asks)" "$JSON20"
search_row "Dashboard GET /search, same query rendered as HTML (limit 20)" "$PAGE"

# A second server with the int8 graph (PORT8, KEY8), for the rows that compare precisions.
start_int8() {
  DATA8=$(mktemp -d)
  PORT8=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  TEAMCONTEXT_DATA_DIR="$DATA8" BIND_ADDR="127.0.0.1:$PORT8" LOG_LEVEL=warn EMBEDDING_MODEL_DIR="$MODEL_DIR" EMBEDDING_PRECISION=int8 \
    RATE_LIMIT_PER_KEY_PER_MIN=0 RATE_LIMIT_PER_IP_PER_MIN=0 RATE_LIMIT_SEARCH_PER_MIN=0 RATE_LIMIT_LOGIN_PER_MIN=0 "$BIN" serve >"$DATA8/server.log" 2>&1 &
  PID8=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT8/api/v1/health" >/dev/null && break; sleep 0.1; done
  KEY8=$(curl -sf -X POST "http://127.0.0.1:$PORT8/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench password","name":"Bench"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["api_key"]["key"])')
}
stop_int8() { kill "$PID8"; wait "$PID8" 2>/dev/null || true; rm -rf "$DATA8"; }

# Scanning: the tokio 1.54.1 source through `teamcontext scan` (pack, upload, chunk, embed,
# store), then the same tree again unchanged; with the default fp32 model on the server above,
# then with the int8 fast path on a second server of its own.
scan_bench() { # LABEL PORT KEY
  local label=$1 port=$2 key=$3 project s1 e1 s2 e2 first second
  project=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/projects" -H "authorization: Bearer $key" -H 'content-type: application/json' \
    -d '{"name":"tokio","description":"the tokio 1.54.1 source"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])')
  s1=$(date +%s.%N)
  first=$("$BIN" scan "$TOKIO_SRC" --project "$project" --server "http://127.0.0.1:$port" --api-key "$key" 2>/dev/null)
  e1=$(date +%s.%N)
  second=$("$BIN" scan "$TOKIO_SRC" --project "$project" --server "http://127.0.0.1:$port" --api-key "$key" 2>/dev/null)
  e2=$(date +%s.%N)
  python3 - "$label" "$s1" "$e1" "$e1" "$e2" "$LINES" "$first" "$second" <<'PY'
import re, sys
label = sys.argv[1]
s1, e1, s2, e2, lines = map(float, sys.argv[2:7])
first, second = sys.argv[7], sys.argv[8]
num = lambda pat, text: int(re.search(pat, text).group(1))
files = num(r"(\d+) file\(s\) indexed", first)
chunks = num(r"(\d+) chunk\(s\)", first)
tokens = num(r"(\d+) token\(s\)", first)
total = e1 - s1
print(f"| {label}: scan of tokio 1.54.1 ({int(lines)} lines of Rust; {files} files indexed, {chunks} chunks, {tokens} tokens) "
      f"| {total:.1f} s: {files / total:.1f} files/s, {chunks / total:.1f} chunks/s, {tokens / total:.0f} tokens/s |")
unchanged = num(r"(\d+) unchanged", second)
print(f"| {label}: unchanged re-scan of the same tree ({unchanged} files unchanged) | {e2 - s2:.1f} s |")
PY
}
if [ "${BENCH_SKIP_SCAN:-0}" != 1 ]; then
  TOKIO_SRC=$(scripts/fetch-tokio-source.sh)
  LINES=$(find "$TOKIO_SRC" -type f -name '*.rs' -print0 | xargs -0 cat | wc -l)
  scan_bench "fp32 (default)" "$PORT" "$KEY"
  # Searching while a scan runs: the same tree into a new project, and after 20 s a 30 s run of
  # hybrid searches over that project, one at a time; then the scan is let finish.
  SCANNED=$(curl -sf -X POST "$BASE/projects" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d '{"name":"tokio, searched while scanning"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])')
  cat >"$DATA/scanning.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"how does the runtime schedule a task woken from another thread","project_ids":["$SCANNED"],"limit":5,"mode":"hybrid"}'
LUA
  "$BIN" scan "$TOKIO_SRC" --project "$SCANNED" --server "http://127.0.0.1:$PORT" --api-key "$KEY" >/dev/null 2>&1 &
  SCAN_PID=$!
  sleep 20
  DURING=$(wrk -t1 -c1 -d30s --latency -H "Authorization: Bearer $KEY" -s "$DATA/scanning.lua" "$BASE/context/search")
  wait "$SCAN_PID"
  printf '| fp32 (default): hybrid searches (1 connection) over the project a scan is filling | %s searches/s, p50 %s ms, p90 %s ms, p99 %s ms%s |\n' \
    "$(printf '%s\n' "$DURING" | awk '/Requests\/sec/ {printf "%.1f", $2}')" "$(printf '%s\n' "$DURING" | pct 50)" \
    "$(printf '%s\n' "$DURING" | pct 90)" "$(printf '%s\n' "$DURING" | pct 99)" \
    "$(printf '%s\n' "$DURING" | awk '/Non-2xx/ {print ", non-2xx: " $NF}')"
  start_int8
  scan_bench "int8 (fast path)" "$PORT8" "$KEY8"
  stop_int8
fi

echo
echo "Vector index (exact scan or HNSW graph; synthetic 384-d unit vectors in 100 projects, 100 queries each)"
cargo run --release -q -p tc-store-sqlite --example vector_index -- "${BENCH_VECTOR_SIZES:-100000,1000000}"

echo
echo "Store backends side by side (SQLite and PostgreSQL through the Store trait, ${BENCH_BACKEND_SIZE:-100000} passages)"
# A PostgreSQL of its own, sized as a server for a million passages would be (the tests' one
# keeps small buffers): the graph stays in shared buffers and the index builds in memory.
BENCH_PG_URL=$(TC_PG_ROOT=/tmp/teamcontext-pg-bench TC_PG_PORT=55433 TC_PG_SHARED_BUFFERS=4GB \
  TC_PG_OPTIONS="-c maintenance_work_mem=4GB" scripts/start-postgres.sh)
TEAMCONTEXT_TEST_DATABASE_URL=$BENCH_PG_URL \
  cargo run --release -q -p teamcontext --example store_backends -- "${BENCH_BACKEND_SIZE:-100000}"

echo
echo "Analytics reports over HTTP (one connection, ${BENCH_ANALYTICS_EVENTS:-1000000} events)"
cargo run --release -q -p teamcontext --example analytics_reports -- "${BENCH_ANALYTICS_EVENTS:-1000000}" "$MODEL_DIR"

echo
echo "Streamed chat over HTTP (one connection, the fake model of crates/fake-llm)"
cargo run --release -q -p teamcontext --example ai_stream -- "${BENCH_AI_TURNS:-100}" "$MODEL_DIR"

echo
echo "Embedding throughput (all-MiniLM-L6-v2, $(nproc) cores)"
echo "TeamContext (ONNX Runtime; fp32 is the default, int8 the opt-in fast path):"
cargo run --release -q -p tc-embed --example throughput -- "$MODEL_DIR"
if [ "${BENCH_SKIP_PYTORCH:-0}" != 1 ]; then
  if [ ! -x .bench-venv/bin/python ] || ! .bench-venv/bin/python -c 'import sentence_transformers' 2>/dev/null; then
    echo "installing sentence-transformers into .bench-venv (first run only) ..." >&2
    python3 -m venv .bench-venv
    .bench-venv/bin/pip install --quiet --disable-pip-version-check sentence-transformers
  fi
  echo "sentence-transformers (PyTorch):"
  HF_HUB_OFFLINE=1 .bench-venv/bin/python scripts/bench-embed-st.py "$MODEL_DIR" 2>/dev/null
fi

# Serial saves as an assistant makes them, one at a time: TeamContext over HTTP (every token of
# each chunk embedded, in windows), fp32 and int8, beside sentence-transformers embedding the
# same chunks one at a time, the way a plain Python server would per save. The systems take
# turns on the same slices (scripts/bench-serial.py), since this machine's speed drifts.
echo
echo "Serial saves: 300 code chunks of about 900 characters from the tokio 1.54.1 source, one at a time"
TOKIO_SRC=${TOKIO_SRC:-$(scripts/fetch-tokio-source.sh)}
python3 scripts/bench-serial.py chunks "$TOKIO_SRC" 300 >"$DATA/chunks.json"
serial_project() { # PORT KEY
  curl -sf -X POST "http://127.0.0.1:$1/api/v1/projects" -H "authorization: Bearer $2" -H 'content-type: application/json' \
    -d '{"name":"serial saves"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])'
}
start_int8
SERIAL=("TeamContext fp32 (default), POST /context/save=http://127.0.0.1:$PORT/api/v1,$KEY,$(serial_project "$PORT" "$KEY")"
  "TeamContext int8, same=http://127.0.0.1:$PORT8/api/v1,$KEY8,$(serial_project "$PORT8" "$KEY8")")
if [ "${BENCH_SKIP_PYTORCH:-0}" != 1 ]; then
  HF_HUB_OFFLINE=1 .bench-venv/bin/python scripts/bench-serial.py compare "$DATA/chunks.json" 5 "${SERIAL[@]}" --st "$MODEL_DIR" 2>/dev/null
else
  python3 scripts/bench-serial.py compare "$DATA/chunks.json" 5 "${SERIAL[@]}"
fi
stop_int8

if [ "${BENCH_SKIP_SOAK:-0}" != 1 ]; then
  scripts/bench-soak.sh
fi
