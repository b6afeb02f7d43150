-- refuse.lua: make a request's refusal final, unless it is decided already. Idempotent.
-- Used when the ledger refuses the order, when the logic layer gives a request up, and when the access layer
-- could not enqueue it (so that a message that did reach the broker after all cannot sell: sell.lua refuses it).
-- KEYS[1]=decision  KEYS[2]=stock  KEYS[3]=buyers
-- ARGV[1]=the refusal's outcome code  ARGV[2]=ttl ms  ARGV[3]=request_id  ARGV[4]=user_id  ARGV[5]=quantity
-- ARGV[6]='1' when the ledger refused the request: then a sale Redis decided for it (S) is undone too, as its
--   order was never written (its commit failed, then the ledger changed: the user was deactivated, the stock
--   edited). Otherwise a sale stands, whatever the caller believed: its order may be committing right now.
-- Undoing a sale gives back its buyer entry and its units, when that entry still names this request.
-- returns the decision in force: 'S' the request is sold, or the code it is refused with (ARGV[1], or the code
-- of an earlier refusal: a refusal never changes)
local decision_key, stock_key, buyers_key = KEYS[1], KEYS[2], KEYS[3]
local code, ttl, request_id, user_id, qty = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])

local decided = redis.call('GET', decision_key)
if decided == 'S' and ARGV[6] ~= '1' then return 'S' end
if decided and decided ~= 'S' then return decided end

redis.call('SET', decision_key, code, 'PX', ttl)
if decided == 'S' and redis.call('HGET', buyers_key, user_id) == request_id then
  redis.call('HDEL', buyers_key, user_id)
  if redis.call('EXISTS', stock_key) == 1 then redis.call('INCRBY', stock_key, qty) end
end
return code
