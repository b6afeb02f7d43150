.PHONY: run test lint format cluster
# Set up everything and run web + worker (Ctrl-C stops it all).
run:
	./scripts/run.sh
# Run the whole test suite (SQLite, then PostgreSQL when one answers).
test:
	./scripts/test.sh
# Lint and check the format (ruff, configured in pyproject.toml); `make format` rewrites.
lint:
	./scripts/lint.sh
format:
	. scripts/_venv.sh && ruff format . && ruff check --fix .
# A local Redis Cluster (the gate) and Sentinel set (broker, results); prints the settings for `make run`.
cluster:
	. scripts/_venv.sh && python scripts/cluster.py
