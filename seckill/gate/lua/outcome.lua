-- outcome.lua: a request is decided: keep its outcome, take it off the pending set, free its admission slot;
-- and, when the worker's result backend shares this Redis database, store the task's Celery result too.
-- KEYS[1]=the request's record  KEYS[2]=pending set  KEYS[3]=the product's admitted set (optional)
-- KEYS[4]=the task's result key (optional, only with KEYS[3])
-- ARGV[1]=request_id  ARGV[2]=outcome (JSON)  ARGV[3]=record TTL in seconds
-- ARGV[4]=the result as Celery encoded it (JSON)  ARGV[5]=its TTL in seconds (0: none)
-- One command instead of a four-command pipeline plus the result backend's read-then-write: the logic layer
-- runs it for every purchase. The result is written as Celery's Redis backend writes it (SET, then PUBLISH on
-- the same key for the waiting view), and, as Celery does, never over a stored success.
redis.call('HSET', KEYS[1], 'outcome', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZREM', KEYS[2], ARGV[1])
if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[1]) end
if KEYS[4] then
  local current = redis.call('GET', KEYS[4])
  if current then
    local ok, meta = pcall(cjson.decode, current)
    if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then return 1 end
  end
  local ttl = tonumber(ARGV[5])
  if ttl > 0 then redis.call('SET', KEYS[4], ARGV[4], 'EX', ttl) else redis.call('SET', KEYS[4], ARGV[4]) end
  redis.call('PUBLISH', KEYS[4], ARGV[4])
end
return 1
