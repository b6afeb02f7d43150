-- take.lua: orders the ledger made outside a sale (a draw's winners, the waitlist's) take their units and buyer
-- entries from the gate, once each: as reclaim.lua does, by the buyer's entry (one that names the order's request
-- already means its units are taken).
-- KEYS[1]=stock  KEYS[2]=buyers
-- ARGV[1..]=user_id, request_id, quantity triples, one per order
-- returns the units taken (an order the gate has too few units for, or whose buyer's entry names another request,
-- is left to reconcile), or -9 when the product is not loaded (loading it from the ledger counts the orders)
local stock_key, buyers_key = KEYS[1], KEYS[2]
local stock = redis.call('GET', stock_key)
if not stock then return -9 end
stock = tonumber(stock)

local taken = 0
for i = 1, #ARGV, 3 do
  local user_id, request_id, qty = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if not redis.call('HGET', buyers_key, user_id) and stock >= qty then
    redis.call('HSET', buyers_key, user_id, request_id)
    stock = stock - qty
    taken = taken + qty
  end
end
if taken > 0 then redis.call('DECRBY', stock_key, taken) end
return taken
