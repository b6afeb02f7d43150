-- admit.lua: the admission gate between the access layer and the logic layer.
-- At most ceil(stock * factor) requests per product may be in flight (admitted, not yet decided).
-- KEYS[1]=stock  KEYS[2]=admitted (sorted set: request_id -> admission time in ms)
-- ARGV[1]=request_id  ARGV[2]=factor  ARGV[3]=slot lifetime in ms (a slot whose task died frees itself)
-- ARGV[4]=quantity
-- With KEYS[3]=the request's record, KEYS[4]=the pending set and ARGV[5]=user_id, ARGV[6]=product_id,
-- ARGV[7]=created (epoch seconds), ARGV[8]=record TTL in seconds: an admitted request's record is written here
-- too (hash user_id, product_id, quantity, created; the pending set scored by created), in the same round trip.
-- A task refreshes its slot when it starts (reserve.lua), so a long queue does not expire the slots waiting in it.
-- returns 'admitted' | 'sold_out' (no stock left) | 'busy' (every slot taken) | 'not_loaded'
local stock_key, admitted_key = KEYS[1], KEYS[2]
local request_id, factor, slot_ms, qty = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4] or '1')

local stock = redis.call('GET', stock_key)
if not stock then return 'not_loaded' end
stock = tonumber(stock)
if stock <= 0 or stock < qty then return 'sold_out' end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', admitted_key, '-inf', now_ms - slot_ms)
if redis.call('ZCARD', admitted_key) >= math.ceil(stock * factor) then return 'busy' end
redis.call('ZADD', admitted_key, now_ms, request_id)
redis.call('PEXPIRE', admitted_key, slot_ms)
if KEYS[4] then
  redis.call('HSET', KEYS[3], 'user_id', ARGV[5], 'product_id', ARGV[6], 'quantity', ARGV[4], 'created', ARGV[7])
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
  redis.call('ZADD', KEYS[4], ARGV[7], request_id)
end
return 'admitted'
