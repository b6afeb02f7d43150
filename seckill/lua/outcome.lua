-- outcome.lua: a request is decided: keep its outcome, take it off the pending set, free its admission slot.
-- KEYS[1]=the request's record  KEYS[2]=pending set  KEYS[3]=the product's admitted set (optional)
-- ARGV[1]=request_id  ARGV[2]=outcome (JSON)  ARGV[3]=record TTL in seconds
-- One command instead of a four-command pipeline: the logic layer runs it for every purchase.
redis.call('HSET', KEYS[1], 'outcome', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZREM', KEYS[2], ARGV[1])
if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[1]) end
return 1
