-- idem_release.lua: free an Idempotency-Key, but only if it still names this request (a later request may have
-- claimed it since). KEYS[1]=the key  ARGV[1]=request_id
-- returns 1 freed | 0 left alone
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
