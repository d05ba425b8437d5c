#!/usr/bin/env bash
# Installs the dashboard's third-party browser code (htmx, and axe-core for the accessibility
# test) from the npm registry by the exact versions of crates/server/web/package-lock.json, into
# crates/server/web/node_modules, where the server's build script embeds htmx in the binary.
# Does nothing when they are already there. The repository holds none of it.
set -euo pipefail
dir="${1:-crates/server/web}"
cd "$dir"
if ! command -v npm >/dev/null; then
    # The server still builds and its pages still work (as plain forms and full page loads).
    echo "npm is not installed: building the dashboard without htmx (its live progress needs a reload)" >&2
    exit 0
fi
if [ ! -f node_modules/htmx.org/dist/htmx.min.js ] || ! cmp -s package-lock.json node_modules/.package-lock.copy; then
    echo "installing the dashboard's htmx and axe-core into $dir/node_modules"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.package-lock.copy
fi
