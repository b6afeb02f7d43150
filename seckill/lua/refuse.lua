-- refuse.lua: make a request's refusal final, unless it is decided already. Idempotent.
-- Used when the ledger refuses the order, when the logic layer gives a request up, and when the access layer
-- could not enqueue it (so that a message that did reach the broker after all cannot sell: sell.lua refuses it).
-- Nothing is given back: sell.lua takes units only for a sale, in the same step that makes it final.
-- KEYS[1]=decision
-- ARGV[1]=the refusal's outcome code  ARGV[2]=ttl ms
-- returns the decision in force: 'S' the request is sold (its sale stands, whatever the caller believed), or the
-- code it is refused with (ARGV[1], or the code of an earlier refusal: a decision never changes)
local decided = redis.call('GET', KEYS[1])
if decided then return decided end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return ARGV[1]
