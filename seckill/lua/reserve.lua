-- reserve.lua: decide one purchase, atomically. Called by the logic layer (the Celery task) only.
-- KEYS[1]=stock   (string: units the gate may still sell)
-- KEYS[2]=buyers  (hash: user_id -> request_id holding that buyer's one live reservation)
-- KEYS[3]=meta    (hash: enabled 1|0, start and end in epoch ms, limit = per-user quantity limit)
-- ARGV[1]=request_id  ARGV[2]=user_id  ARGV[3]=quantity
-- returns {result, stock_left}, result one of
--    1 reserved now       2 already reserved by this same request (a redelivered task: do not sell again)
--   -1 sold out (stock < quantity)   -2 buyer already holds a live order   -3 not started   -4 ended
--   -5 disabled   -6 quantity over the per-user limit   -9 product not loaded into Redis
-- The checks come before the decrement: the stock never goes below zero.
local stock_key, buyers_key, meta_key = KEYS[1], KEYS[2], KEYS[3]
local request_id, user_id, qty = ARGV[1], ARGV[2], tonumber(ARGV[3])

local stock = redis.call('GET', stock_key)
if not stock then return {-9, -1} end
stock = tonumber(stock)

local holder = redis.call('HGET', buyers_key, user_id)
if holder == request_id then return {2, stock} end

local meta = redis.call('HMGET', meta_key, 'enabled', 'start', 'end', 'limit')
if meta[1] ~= '1' then return {-5, stock} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now_ms < tonumber(meta[2]) then return {-3, stock} end
if now_ms >= tonumber(meta[3]) then return {-4, stock} end
if qty > tonumber(meta[4]) then return {-6, stock} end
if holder then return {-2, stock} end
if stock < qty then return {-1, stock} end

stock = redis.call('DECRBY', stock_key, qty)
redis.call('HSET', buyers_key, user_id, request_id)
return {1, stock}
