"""Everything the sale keeps in Redis. Redis is the gate, the database is the ledger.

- `keys`:     every key name, and the layout of what each holds. Only this module spells a key.
- `client`:   the connection pool and the Lua scripts (one file per atomic step, in seckill/lua/).
- `sale`:     the stock gate: a product's stock, buyers, window, decisions and admission slots.
- `requests`: purchase request records, the pending set the sweeper reads, Idempotency-Keys.
- `guards`:   blacklists, temporary bans, rate-limit counters.
"""
