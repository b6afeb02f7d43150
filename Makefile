.PHONY: run test
# Set up everything and run web + worker (Ctrl-C stops it all).
run:
	./scripts/run.sh
# Run the whole test suite (SQLite, then PostgreSQL when one answers).
test:
	./scripts/test.sh
