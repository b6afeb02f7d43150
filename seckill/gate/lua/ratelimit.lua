-- ratelimit.lua: count one request against rate limits, atomically, if none is full (the step is limits.lua,
-- which redis_store puts in front of this file).
-- KEYS[i]     = the counter of rule i
-- ARGV[2i-1]  = limit of rule i    ARGV[2i] = the rule's window in milliseconds
-- returns {1, 0, 0} allowed | {0, retry_after_ms, i} refused, i = the first full rule (1-based)
local allowed, retry_after, first_full = rate_limit(1, 1, #KEYS)
return {allowed, retry_after, first_full}
