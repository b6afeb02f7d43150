-- release.lua: give a closed order's units back to the gate (it expired or was cancelled in the ledger), once.
-- KEYS[1]=stock  KEYS[2]=buyers
-- ARGV[1..]=user_id, request_id, quantity triples, one per order
-- An order's units go back only while the buyer's entry names its request: the entry goes with them, so a
-- second release of the same order finds none and gives nothing (nor does one whose buyer bought again since:
-- the entry then names the new request). A product not in Redis takes nothing: loading it from the ledger later
-- counts the units already.
-- returns the number of units given back
local stock_key, buyers_key = KEYS[1], KEYS[2]
if redis.call('EXISTS', stock_key) == 0 then return 0 end

local returned = 0
for i = 1, #ARGV, 3 do
  local user_id, request_id, qty = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if redis.call('HGET', buyers_key, user_id) == request_id then
    redis.call('HDEL', buyers_key, user_id)
    returned = returned + qty
  end
end
if returned > 0 then redis.call('INCRBY', stock_key, returned) end
return returned
