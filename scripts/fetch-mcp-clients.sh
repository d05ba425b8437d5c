#!/usr/bin/env bash
# Installs the official MCP clients the tests drive, beside their scripts in
# crates/server/tests/mcp_clients: the Python SDK, the Prometheus client library (whose
# text-format parser checks /metrics), aiosmtpd (the SMTP server the mail tests receive with)
# and Schemathesis (which attacks the REST API from its OpenAPI document) with pip into venv/
# and, from the npm registry,
# the TypeScript SDK, the conformance suite and the Node 22 it needs (npm ci, into node_modules/).
# Versions are pinned here and in package-lock.json. Does nothing when they are already there.
set -euo pipefail
dir="${1:-crates/server/tests/mcp_clients}"
python_sdk="mcp==2.3.0 prometheus-client==0.26.0 aiosmtpd==1.4.6 schemathesis==4.32.5"
cd "$dir"
if ! venv/bin/python -c 'import mcp, prometheus_client, aiosmtpd, schemathesis' 2>/dev/null || ! grep -qx "$python_sdk" venv/.installed 2>/dev/null; then
    echo "installing the MCP Python SDK, prometheus-client, aiosmtpd and Schemathesis ($python_sdk) into $dir/venv"
    python3 -m venv venv
    # shellcheck disable=SC2086 # several requirements, split on purpose
    venv/bin/pip install --quiet --disable-pip-version-check $python_sdk
    echo "$python_sdk" > venv/.installed
fi
if [ ! -x node_modules/.bin/conformance ] || ! cmp -s package-lock.json node_modules/.package-lock.copy; then
    echo "installing the MCP TypeScript SDK, conformance suite and Node 22 into $dir/node_modules"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.package-lock.copy
fi
