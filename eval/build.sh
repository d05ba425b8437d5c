#!/usr/bin/env bash
# Build the two public retrieval-evaluation sets in BEIR format (corpus.jsonl, queries.jsonl,
# qrels/test.tsv) under OUT (default .eval-cache), from packages fetched by name:
#   OUT/debfaq  prose, question -> answer: the Debian FAQ's questions against its answers, with
#               the Debian Reference and the Debian Administrator's Handbook as distractors
#               (Debian packages debian-faq, debian-reference-en, debian-handbook; GPL/CC-BY-SA).
#   OUT/tokio   code search: doc-comment summaries of tokio 1.54.1's functions against the
#               functions' code with the comments removed (MIT).
# Needs apt-get (as root, after `apt-get update`), cargo and python3. Idempotent.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-.eval-cache}
mkdir -p "$OUT"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

if [ ! -f "$OUT/debfaq/corpus.jsonl" ]; then
  ( cd "$work" && apt-get download debian-faq debian-reference-en debian-handbook >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1; apt-get download debian-faq debian-reference-en debian-handbook >/dev/null; } )
  for f in "$work"/*.deb; do dpkg-deb -x "$f" "$work/x"; done
  python3 "$HERE/docbook_faq_to_beir.py" "$OUT/debfaq" "$work/x/usr/share/doc/debian/FAQ" \
    "$work/x/usr/share/debian-reference" "$work/x/usr/share/doc/debian-handbook/html/en-US"
fi

if [ ! -f "$OUT/tokio/corpus.jsonl" ]; then
  mkdir -p "$work/fetch/src"; echo 'fn main() {}' > "$work/fetch/src/main.rs"
  printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\ntokio = { version = "=1.54.1", default-features = false }\n' > "$work/fetch/Cargo.toml"
  cargo fetch -q --manifest-path "$work/fetch/Cargo.toml"
  src=$(cargo metadata -q --format-version 1 --manifest-path "$work/fetch/Cargo.toml" | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(os.path.dirname(next(p for p in m["packages"] if p["name"] == "tokio")["manifest_path"]))')
  python3 "$HERE/rustdoc_to_beir.py" "$OUT/tokio" "$src" 400
fi
echo "$OUT/debfaq $OUT/tokio"
