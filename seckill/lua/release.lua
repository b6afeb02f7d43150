-- release.lua: make a request's refusal final and give back its reservation, if it holds one. Idempotent.
-- Used when the order cannot be written, when the logic layer gives a request up, and when the access layer
-- could not enqueue it (so that a message that did reach the broker after all cannot sell).
-- KEYS[1]=stock  KEYS[2]=buyers  KEYS[3]=decision
-- ARGV[1]=request_id  ARGV[2]=user_id  ARGV[3]=quantity  ARGV[4]=the refusal's outcome code  ARGV[5]=ttl ms
-- returns 1 units given back | 0 nothing to give back (never reserved, or already refused) | 2 the request is
-- sold (its sale confirmed): it keeps its units and its decision, whatever the caller believed
local stock_key, buyers_key, decision_key = KEYS[1], KEYS[2], KEYS[3]
local request_id, user_id, qty, code, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])

local decided = redis.call('GET', decision_key)
if decided == 'S' then return 2 end
local holds = redis.call('HGET', buyers_key, user_id) == request_id
if decided and decided ~= 'R' and not holds then return 0 end

redis.call('SET', decision_key, code, 'PX', ttl)
if not holds then return 0 end
redis.call('HDEL', buyers_key, user_id)
if redis.call('EXISTS', stock_key) == 1 then redis.call('INCRBY', stock_key, qty) end
return 1
