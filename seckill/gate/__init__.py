"""Everything the sale keeps in Redis. Redis is the gate, the database is the ledger.

- `keys`:         every key name, and the layout of what each holds. Only this module spells a key.
- `client`:       the connection pool and the Lua scripts (one file per atomic step, in lua/).
- `stock`:        the stock gate: a product's stock, buyers, window and decisions.
- `admissions`:   the admission (admit.lua): slots in flight, request records, the pace, spent paths and solutions.
- `buckets`:      a hot product's stock in N buckets (slots): how many, how the stock splits, a buyer's first.
- `records`:      purchase request records, the pending set the sweeper reads, Idempotency-Keys.
- `access_state`: the access layer's shared state: blacklist mirror, temporary bans, rate-limit counters.
- `operations`:   reconciliation reports, workers' and beat's heartbeats.
- `sync`:         the gate kept in step with the ledger (a product loaded, a stock change applied as a delta).
"""
