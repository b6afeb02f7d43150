#!/usr/bin/env bash
# The run command (README): sets everything up on a fresh machine, then runs web + worker until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
exec python scripts/run.py "$@"
