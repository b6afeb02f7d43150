"""What the tests share besides fixtures (those are in tests/conftest.py), by what it holds:

- `processes`:  the real worker, beat and web server processes the tests start, and what they need to start
- `redis_db`:   the test Redis database's keys
- `http`:       HTTP clients: DRF's test client with a buyer's token, and plain HTTP to a started web server
- `polling`:    `wait_for`, a poll with a deadline (never a blind sleep)
- `data`:       buyers, products and times
- `invariants`: what the whole system promises about a product once nothing is in flight
"""
