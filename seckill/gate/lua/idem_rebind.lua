-- idem_rebind.lua: move an Idempotency-Key from one request id to another, but only if it still names the first
-- (the request moved to another bucket of its product before it was admitted: the key must name the one admitted).
-- KEYS[1]=the key  ARGV[1]=the request id it names  ARGV[2]=the new request id
-- returns 1 moved | 0 left alone
local idem_key, old_id, new_id = KEYS[1], ARGV[1], ARGV[2]
if redis.call('GET', idem_key) ~= old_id then return 0 end
redis.call('SET', idem_key, new_id, 'KEEPTTL')
return 1
