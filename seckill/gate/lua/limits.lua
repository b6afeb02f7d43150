-- limits.lua: not a script of its own but the rate-limit step that ratelimit.lua and admit.lua run: redis_store
-- puts this file in front of theirs (Redis has no include), so the one rule lives in one place.
-- Rate limits are checked and counted in one step (no read-then-increment race, the same count for every web
-- process). Each rule is a window that starts with its first request and lasts its length, timed by Redis' own
-- clock (the key's expiry): no web process' clock is involved, so hosts whose clocks differ still share one count.
-- rate_limit(first_key, first_arg, n): rule i (0 .. n-1) is KEYS[first_key + i] (its counter) with
-- ARGV[first_arg + 2i] (its limit) and ARGV[first_arg + 2i + 1] (its window in milliseconds).
-- The request counts against every rule only if no rule is full.
-- returns 1, 0, 0 allowed | 0, retry_after_ms, i refused, i = the first full rule (1-based)
local function rate_limit(first_key, first_arg, n)
  local retry_after, first_full = 0, 0
  for i = 0, n - 1 do
    local key, limit, window = KEYS[first_key + i], ARGV[first_arg + 2 * i], ARGV[first_arg + 2 * i + 1]
    local used = tonumber(redis.call('GET', key) or '0')
    if used >= tonumber(limit) then
      local wait = redis.call('PTTL', key)
      if wait < 0 then  -- a counter with no expiry (never written so by this step): give it one now
        wait = tonumber(window)
        redis.call('PEXPIRE', key, wait)
      end
      if wait > retry_after then retry_after = wait end
      if first_full == 0 then first_full = i + 1 end
    end
  end
  if first_full > 0 then return 0, retry_after, first_full end
  for i = 0, n - 1 do
    local key = KEYS[first_key + i]
    if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, tonumber(ARGV[first_arg + 2 * i + 1])) end
  end
  return 1, 0, 0
end
