-- confirm.lua: turn a reservation into a sale, just before the order's transaction commits.
-- KEYS[1]=decision  ARGV[1]=ttl ms
-- returns 1 confirmed (now or before) | 0 the request was given up meanwhile: the order must not be written
local decided = redis.call('GET', KEYS[1])
if decided == 'S' then return 1 end
if decided ~= 'R' then return 0 end
redis.call('SET', KEYS[1], 'S', 'PX', tonumber(ARGV[1]))
return 1
