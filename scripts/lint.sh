#!/usr/bin/env bash
# The lint command: ruff's checks and its format check (pyproject.toml), with the project's pinned ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ruff check .
ruff format --check .
