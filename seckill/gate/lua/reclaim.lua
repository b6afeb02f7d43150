-- reclaim.lua: an expired order paid after all (its payment was made in time and arrived late) takes its units
-- back from the gate, once. It goes by the buyer's entry, as release.lua does: an entry that names this request
-- already means the units never went back, and nothing is taken twice.
-- KEYS[1]=stock  KEYS[2]=buyers
-- ARGV[1]=user_id  ARGV[2]=request_id  ARGV[3]=quantity
-- returns 1 taken | 0 held already | -1 the gate has fewer units than that (drift: reconcile repairs it; the
-- buyer's entry is set all the same) | -2 the buyer's entry names another request (a sale of it on its way, or
-- a closed order not released yet: left to them, and to reconcile) | -9 the product is not loaded (loading it
-- from the ledger counts the order)
local stock_key, buyers_key = KEYS[1], KEYS[2]
local user_id, request_id, qty = ARGV[1], ARGV[2], tonumber(ARGV[3])

local stock = redis.call('GET', stock_key)
if not stock then return -9 end
local holder = redis.call('HGET', buyers_key, user_id)
if holder == request_id then return 0 end
if holder then return -2 end
redis.call('HSET', buyers_key, user_id, request_id)
if tonumber(stock) < qty then return -1 end
redis.call('DECRBY', stock_key, qty)
return 1
