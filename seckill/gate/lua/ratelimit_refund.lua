-- ratelimit_refund.lua: give back one count of each rate-limit counter (a login that turned out right counts
-- nothing; a cluster's admission that found its product not loaded): never below zero, and never on a counter
-- whose window has ended (it would live on without expiry); a counter given back to zero is gone, as if never
-- counted.
-- KEYS[1..n]=the counters
-- returns the number of counters given back
local given = 0
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used > 0 then
    if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
    given = given + 1
  end
end
return given
