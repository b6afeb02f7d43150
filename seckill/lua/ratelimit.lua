-- ratelimit.lua: fixed-window rate limits, checked and counted in one step (no read-then-increment race).
-- KEYS[i] = the counter of rule i for the current window (the caller puts the window number in the key)
-- ARGV[2i-1] = limit of rule i   ARGV[2i] = window of rule i in milliseconds
-- Counts the request against every rule only if no rule is already full.
-- returns {1, 0} allowed | {0, retry_after_ms} refused (the longest wait among the full rules)
local retry_after = 0
for i = 1, #KEYS do
  local limit, window_ms = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = window_ms end
    if ttl > retry_after then retry_after = ttl end
  end
end
if retry_after > 0 then return {0, retry_after} end
for i = 1, #KEYS do
  local used = redis.call('INCR', KEYS[i])
  if used == 1 then redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i])) end
end
return {1, 0}
