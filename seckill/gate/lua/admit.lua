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
-- With those, KEYS[6]=the pace counter (hash s: the second, n: admissions in it) and KEYS[7]=the purchase path's
-- spent mark, ARGV[9]=admissions a second ('': no cap), ARGV[10]=until when the path's spent mark is kept, epoch
-- ms (its expiry and a margin; '0': no path),
-- ARGV[11]='1' to spend the path even when sold out (the first of a bucketed product's buckets: its home, where
-- the path is spent, whichever bucket admits the request; the caller gives it back if none does):
-- beyond the pace the request is 'busy' (retry_after_ms: until the next second); a path is spent by the request
-- it admits, once ('path_used' for any other).
-- With those and ARGV[12]=n > 0: the request's n rate-limit rules, KEYS[8 .. 7+n] their counters, ARGV[13 ..] a
-- limit and a window in ms for each (as in ratelimit.lua), are counted here (limits.lua, which redis_store puts
-- in front of this file) once the product is known to be loaded, before anything else: the access layer's
-- rate limit and admission in one round trip.
-- The slot is freed when the request's outcome is recorded (outcome.lua).
-- returns {answer, retry_after_ms, rule}: answer 'admitted' | 'sold_out' (no stock left) | 'already_purchased'
-- | 'path_used' | 'busy' (every slot taken, or the pace reached) | 'not_loaded' (nothing counted)
-- | 'rate_limited' (retry_after_ms, rule: the first full rule, 1-based)
local stock_key, admitted_key = KEYS[1], KEYS[2]
local request_id, factor, slot_ms, qty = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4] or '1')
local pace_key, path_key = KEYS[6], KEYS[7]
local pace, path_kept_until, path_first = tonumber(ARGV[9] or ''), tonumber(ARGV[10] or '0'), ARGV[11] == '1'

local stock = redis.call('GET', stock_key)
if not stock then return {'not_loaded', 0, 0} end

local rules = tonumber(ARGV[12] or '0')
if rules > 0 then
  local allowed, retry_after, first_full = rate_limit(8, 13, rules)
  if allowed == 0 then return {'rate_limited', retry_after, first_full} end
end

stock = tonumber(stock)
if stock <= 0 or stock < qty then
  local held = path_kept_until > 0 and path_first
  if held and not redis.call('SET', path_key, request_id, 'NX', 'PXAT', path_kept_until) then
    return {'path_used', 0, 0}
  end
  return {'sold_out', 0, 0}
end
if KEYS[5] and redis.call('HEXISTS', KEYS[3], ARGV[5]) == 1 then return {'already_purchased', 0, 0} end
if path_kept_until > 0 and redis.call('EXISTS', path_key) == 1 then return {'path_used', 0, 0} end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', admitted_key, '-inf', now_ms - slot_ms)
if redis.call('ZCARD', admitted_key) >= math.ceil(stock * factor) then return {'busy', 0, 0} end
if pace then
  -- one window a second of Redis' clock, shared by every web process and host
  local second = tostring(t[1])
  local counted = redis.call('HMGET', pace_key, 's', 'n')
  local n = counted[1] == second and tonumber(counted[2]) or 0
  if n >= pace then return {'busy', 1000 - now_ms % 1000, 0} end
  redis.call('HSET', pace_key, 's', second, 'n', n + 1)
  redis.call('PEXPIRE', pace_key, 2000)
end
if path_kept_until > 0 then redis.call('SET', path_key, request_id, 'PXAT', path_kept_until) end
redis.call('ZADD', admitted_key, now_ms, request_id)
redis.call('PEXPIRE', admitted_key, slot_ms)
if KEYS[5] then
  redis.call('HSET', KEYS[4], 'user_id', ARGV[5], 'product_id', ARGV[6], 'quantity', ARGV[4], 'created', ARGV[7])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[8]))
  redis.call('ZADD', KEYS[5], ARGV[7], request_id)
end
return {'admitted', 0, 0}
