#!/usr/bin/env bash
# Prints the directory of the tokio 1.54.1 source, fetched by exact version through cargo (the
# scan benchmark's input): a throwaway manifest depending on tokio =1.54.1, `cargo fetch`, and
# `cargo metadata` to find where cargo unpacked it.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
echo 'fn main() {}' > "$work/src/main.rs"
cat > "$work/Cargo.toml" <<'TOML'
[package]
name = "fetch-tokio-source"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tokio = { version = "=1.54.1", default-features = false }
TOML
cargo fetch -q --manifest-path "$work/Cargo.toml"
cargo metadata -q --format-version 1 --manifest-path "$work/Cargo.toml" | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
tokio = next(p for p in meta["packages"] if p["name"] == "tokio" and p["version"] == "1.54.1")
print(os.path.dirname(tokio["manifest_path"]))'
