-- ratelimit.lua: fixed-window rate limits, checked and counted in one step (no read-then-increment race, the
-- same count for every web process).
-- KEYS[i]     = the counter of rule i for the current window (the caller puts the window's number in the key)
-- ARGV[2i-1]  = limit of rule i    ARGV[2i] = milliseconds until rule i's current window ends
-- The request counts against every rule only if no rule is full.
-- returns {1, 0, 0} allowed | {0, retry_after_ms, i} refused, i = the first full rule (1-based)
local retry_after, first_full = 0, 0
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    local wait = tonumber(ARGV[2 * i])
    if wait > retry_after then retry_after = wait end
    if first_full == 0 then first_full = i end
  end
end
if first_full > 0 then return {0, retry_after, first_full} end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i])) end
end
return {1, 0, 0}
