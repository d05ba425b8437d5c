#!/usr/bin/env bash
# Prints the path of a redis-server binary for the tests, installing Debian's package
# (`apt-get install redis-server`) when there is none. The tests start their own servers on
# loopback ports with it, so each can stop its Redis to see how the service degrades.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server.sh: installing Debian's redis-server ..." >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  exec 9>/tmp/teamcontext-redis-install.lock
  flock 9
  if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y --no-install-recommends redis-server >&2 \
      || { $SUDO apt-get update >&2 && $SUDO apt-get install -y --no-install-recommends redis-server >&2; }
  fi
fi
command -v redis-server
