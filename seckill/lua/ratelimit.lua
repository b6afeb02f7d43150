-- ratelimit.lua: rate limits, checked and counted in one step (no read-then-increment race, the same count for
-- every web process). Each rule is a window that starts with its first request and lasts its length, timed by
-- Redis' own clock (the key's expiry): no web process' clock is involved, so hosts whose clocks differ still
-- share one count.
-- KEYS[i]     = the counter of rule i
-- ARGV[2i-1]  = limit of rule i    ARGV[2i] = the rule's window in milliseconds
-- The request counts against every rule only if no rule is full.
-- returns {1, 0, 0} allowed | {0, retry_after_ms, i} refused, i = the first full rule (1-based)
local retry_after, first_full = 0, 0
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    local wait = redis.call('PTTL', KEYS[i])
    if wait < 0 then  -- a counter with no expiry (never written so by this script): give it one now
      wait = tonumber(ARGV[2 * i])
      redis.call('PEXPIRE', KEYS[i], wait)
    end
    if wait > retry_after then retry_after = wait end
    if first_full == 0 then first_full = i end
  end
end
if first_full > 0 then return {0, retry_after, first_full} end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i])) end
end
return {1, 0, 0}
