-- admit.lua: the admission gate between the access layer and the logic layer.
-- At most ceil(stock * factor) requests per product may be in flight (admitted, not yet decided).
-- KEYS[1]=stock  KEYS[2]=admitted (sorted set: request_id -> admission time in ms)
-- ARGV[1]=request_id  ARGV[2]=factor  ARGV[3]=slot lifetime in ms (a slot whose task died frees itself)
-- ARGV[4]=quantity
-- With KEYS[3]=the product's buyers, KEYS[4]=the request's record, KEYS[5]=the pending set and ARGV[5]=user_id,
-- ARGV[6]=product_id, ARGV[7]=created (epoch seconds), ARGV[8]=record TTL in seconds: a buyer who already bought
-- the product is answered 'already_purchased' here (the logic layer would refuse it, after taking the ledger's
-- lock); an admitted request's record is written here too (hash user_id, product_id, quantity, created; the
-- pending set scored by created), in the same round trip.
-- With those and ARGV[9]=n > 0: the request's n rate-limit rules, KEYS[6 .. 5+n] their counters, ARGV[10 ..] a
-- limit and a window in ms for each (as in ratelimit.lua), are counted here (limits.lua, which redis_store puts
-- in front of this file) once the product is known to be loaded, before anything else: the access layer's
-- rate limit and admission in one round trip.
-- The slot is freed when the request's outcome is recorded (outcome.lua).
-- returns {answer, retry_after_ms, rule}: answer 'admitted' | 'sold_out' (no stock left) | 'already_purchased'
-- | 'busy' (every slot taken) | 'not_loaded' (nothing counted) | 'rate_limited' (retry_after_ms, rule: the
-- first full rule, 1-based)
local stock_key, admitted_key = KEYS[1], KEYS[2]
local request_id, factor, slot_ms, qty = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4] or '1')

local stock = redis.call('GET', stock_key)
if not stock then return {'not_loaded', 0, 0} end

local rules = tonumber(ARGV[9] or '0')
if rules > 0 then
  local allowed, retry_after, first_full = rate_limit(6, 10, rules)
  if allowed == 0 then return {'rate_limited', retry_after, first_full} end
end

stock = tonumber(stock)
if stock <= 0 or stock < qty then return {'sold_out', 0, 0} end
if KEYS[5] and redis.call('HEXISTS', KEYS[3], ARGV[5]) == 1 then return {'already_purchased', 0, 0} end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', admitted_key, '-inf', now_ms - slot_ms)
if redis.call('ZCARD', admitted_key) >= math.ceil(stock * factor) then return {'busy', 0, 0} end
redis.call('ZADD', admitted_key, now_ms, request_id)
redis.call('PEXPIRE', admitted_key, slot_ms)
if KEYS[5] then
  redis.call('HSET', KEYS[4], 'user_id', ARGV[5], 'product_id', ARGV[6], 'quantity', ARGV[4], 'created', ARGV[7])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[8]))
  redis.call('ZADD', KEYS[5], ARGV[7], request_id)
end
return {'admitted', 0, 0}
