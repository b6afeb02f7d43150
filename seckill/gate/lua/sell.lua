-- sell.lua: decide purchase requests, each atomically and once: the last step of the transaction that writes
-- their orders. Called by the logic layer (the task) only, after the ledger took the units in that transaction,
-- which commits only if this says 'sold' or 'again' for each (a refusal rolls it back).
-- Decides one request, or several in turn (a worker's batch: KEYS and ARGV hold 4 of each per request, in the
-- same order), and stops after the first that does not sell: it returns one {result, stock_left} pair per
-- request decided, flattened; requests after a refusal are left undecided.
-- Per request:
-- KEYS[1]=stock     (string: units the gate may still sell)
-- KEYS[2]=buyers    (hash: user_id -> request_id of that buyer's sale)
-- KEYS[3]=meta      (hash: enabled 1|0, start and end in epoch ms, limit = per-user quantity limit)
-- KEYS[4]=decision  (string: this request's decision)
-- ARGV[1]=request_id  ARGV[2]=user_id  ARGV[3]=quantity  ARGV[4]=decision ttl in ms
-- KEYS[4] holds S (sold) or the outcome code the request was refused with.
-- each result is one of
--   'sold' now   'again' already sold by this same request (a redelivery, or a commit that failed: commit now;
--                also when the buyer entry names this request but its decision key is gone)
--   'not_loaded' the product is not in Redis (nothing decided)
--   or the refusal's outcome code: sold_out, already_purchased, sale_not_started, sale_ended, sale_disabled,
--   invalid_request (quantity over the per-user limit), or whatever code an earlier refusal recorded
-- A refusal is final: a late or duplicate delivery of a refused request gets the same refusal, even if units
-- came back meanwhile; and a request refused while its task was running (refuse.lua: given up) cannot sell.
-- A sale is final too, unless the ledger refuses the request (refuse.lua undoes it: its order never existed).
-- The checks come before the decrement: the stock never goes below zero.
local function sell(k, a)
  local stock_key, buyers_key, meta_key, decision_key = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local request_id, user_id, qty, ttl = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])

  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

  local stock = redis.call('GET', stock_key)
  if not stock then return {'not_loaded', -1} end
  stock = tonumber(stock)

  local decided = redis.call('GET', decision_key)
  if decided == 'S' then return {'again', stock} end
  if decided then return {decided, stock} end

  -- The decision key expired or was evicted while the buyer's entry names this request: its units were taken.
  -- It is a sale: say so again.
  local holder = redis.call('HGET', buyers_key, user_id)
  if holder == request_id then
    redis.call('SET', decision_key, 'S', 'PX', ttl)
    return {'again', stock}
  end

  local function refuse(code)
    redis.call('SET', decision_key, code, 'PX', ttl)
    return {code, stock}
  end

  local meta = redis.call('HMGET', meta_key, 'enabled', 'start', 'end', 'limit')
  if meta[1] ~= '1' then return refuse('sale_disabled') end
  if now_ms < tonumber(meta[2]) then return refuse('sale_not_started') end
  if now_ms >= tonumber(meta[3]) then return refuse('sale_ended') end
  if qty > tonumber(meta[4]) then return refuse('invalid_request') end
  if holder then return refuse('already_purchased') end
  if stock < qty then return refuse('sold_out') end

  stock = redis.call('DECRBY', stock_key, qty)
  redis.call('HSET', buyers_key, user_id, request_id)
  redis.call('SET', decision_key, 'S', 'PX', ttl)
  return {'sold', stock}
end

local results = {}
for i = 0, #KEYS / 4 - 1 do
  local decided = sell(4 * i, 4 * i)
  results[#results + 1] = decided[1]
  results[#results + 1] = decided[2]
  if decided[1] ~= 'sold' and decided[1] ~= 'again' then break end
end
return results
