-- reserve.lua: decide one purchase request, atomically and once. Called by the logic layer (the task) only.
-- KEYS[1]=stock     (string: units the gate may still sell)
-- KEYS[2]=buyers    (hash: user_id -> request_id holding that buyer's one live reservation)
-- KEYS[3]=meta      (hash: enabled 1|0, start and end in epoch ms, limit = per-user quantity limit)
-- KEYS[4]=decision  (string: this request's decision)
-- KEYS[5]=admitted  (sorted set of the admission gate: this request's slot is refreshed, as its task has started)
-- ARGV[1]=request_id  ARGV[2]=user_id  ARGV[3]=quantity  ARGV[4]=decision ttl in ms
-- KEYS[4] holds R (reserved), S (sold) or the outcome code the request was refused with.
-- returns {result, stock_left}, result one of
--   'reserved' now   'again' already reserved or sold by this same request (a redelivery: do not sell again)
--   'not_loaded' the product is not in Redis (nothing decided)
--   or the refusal's outcome code: sold_out, already_purchased, sale_not_started, sale_ended, sale_disabled,
--   invalid_request (quantity over the per-user limit), or whatever code an earlier refusal recorded
-- A decision is final: a late or duplicate delivery of a refused request gets the same refusal, even if units
-- came back meanwhile. The checks come before the decrement: the stock never goes below zero.
local stock_key, buyers_key, meta_key, decision_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local request_id, user_id, qty, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[5], 'XX', now_ms, request_id)

local stock = redis.call('GET', stock_key)
if not stock then return {'not_loaded', -1} end
stock = tonumber(stock)

local decided = redis.call('GET', decision_key)
if decided == 'R' or decided == 'S' then return {'again', stock} end
if decided then return {decided, stock} end

local holder = redis.call('HGET', buyers_key, user_id)
if holder == request_id then return {'again', stock} end

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
redis.call('SET', decision_key, 'R', 'PX', ttl)
return {'reserved', stock}
