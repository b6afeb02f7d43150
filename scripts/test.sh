#!/usr/bin/env bash
# The test command (README): installs what it needs, then runs the whole pytest suite on SQLite and again on
# PostgreSQL. Extra arguments go to pytest (e.g. -m "not slow", -k burst).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh

echo "== test suite on SQLite =="
env -u DATABASE_URL python -m pytest "$@"

PG_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/seckill}"
if python scripts/pg_ready.py "$PG_URL"; then
  echo "== test suite on PostgreSQL ($PG_URL) =="
  DATABASE_URL="$PG_URL" python -m pytest "$@"
elif [ -n "${TEST_POSTGRES_URL:-}" ]; then
  echo "TEST_POSTGRES_URL is set, but no PostgreSQL answers at $PG_URL" >&2
  exit 1
else
  echo "SKIPPED: the PostgreSQL run: no server answers at $PG_URL (set TEST_POSTGRES_URL to choose one)"
fi
