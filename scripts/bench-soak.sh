#!/usr/bin/env bash
# The soak of `make bench` (also runnable alone): a fresh release server on SQLite, seeded with
# this repository's docs and code in paragraphs, then 64 clients for 5 minutes in a mix of REST
# reads, saves and searches and MCP searches and saves (crates/server/examples/soak.rs).
# Prints a markdown table: errors, p50/p99 per operation, and the server's RSS at the start,
# the end and its peak. BENCH_SOAK_CLIENTS and BENCH_SOAK_SECONDS change the load.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${BENCH_SOAK_CLIENTS:-64}
SECONDS_=${BENCH_SOAK_SECONDS:-300}
MODEL_DIR=${MODEL_DIR:-.model-cache/all-MiniLM-L6-v2}
scripts/fetch-model.sh "$MODEL_DIR" >/dev/null
MODEL_DIR=$(cd "$MODEL_DIR" && pwd)
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p teamcontext --bin teamcontext --example soak

DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT/api/v1"
TEAMCONTEXT_DATA_DIR="$DATA" BIND_ADDR="127.0.0.1:$PORT" LOG_LEVEL=warn LOG_FORMAT=json EMBEDDING_MODEL_DIR="$MODEL_DIR" \
  RATE_LIMIT_PER_KEY_PER_MIN=0 RATE_LIMIT_PER_IP_PER_MIN=0 RATE_LIMIT_SEARCH_PER_MIN=0 \
  "$TARGET/release/teamcontext" serve >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/health" >/dev/null || { echo "server did not start"; cat "$DATA/server.log"; exit 1; }

KEY=$(curl -sf -X POST "$BASE/auth/register" -H 'content-type: application/json' \
  -d '{"email":"soak@example.com","password":"soak password","name":"Soak"}' \
  | python3 -c 'import sys, json; print(json.load(sys.stdin)["api_key"]["key"])')
PROJECT=$(curl -sf -X POST "$BASE/projects" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"name":"teamcontext","description":"the TeamContext server: its docs and Rust code"}' \
  | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])')
SEEDED=$(python3 - "$BASE" "$KEY" "$PROJECT" <<'PY'
import glob, json, sys, urllib.request
base, key, project = sys.argv[1:]
items = []
for path in sorted(glob.glob("README.md") + glob.glob("docs/*.md") + glob.glob("crates/*/src/**/*.rs", recursive=True)):
    text = open(path, encoding="utf-8").read()
    items += [{"content": p.strip(), "project_id": project, "metadata": {"file_path": path}}
              for p in text.split("\n\n") if len(p.strip()) >= 200]
for start in range(0, len(items), 100):
    body = json.dumps({"items": items[start:start + 100]}).encode()
    req = urllib.request.Request(base + "/context/batch", body, {"authorization": "Bearer " + key, "content-type": "application/json"})
    urllib.request.urlopen(req).read()
print(len(items))
PY
)

echo
echo "Soak: TeamContext $("$TARGET/release/teamcontext" --version | awk '{print $2}') release on $(nproc) cores, $(date -u +%Y-%m-%d), SQLite; $CLIENTS clients for $SECONDS_ s, each sending its next request when answered, over $SEEDED contexts; one MCP session per client"
echo
"$TARGET/release/examples/soak" --base "http://127.0.0.1:$PORT" --key "$KEY" --project "$PROJECT" --pid "$PID" \
  --clients "$CLIENTS" --seconds "$SECONDS_"
if grep -q '"level":"ERROR"' "$DATA/server.log"; then
  echo
  echo "server errors logged during the soak:"
  grep '"level":"ERROR"' "$DATA/server.log" | head -5
fi
