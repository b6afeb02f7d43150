-- enter.lua: a buyer's entry to a draw (a product whose meta says mode = draw), one per buyer, in one step.
-- KEYS[1]=meta  KEYS[2]=entries (hash user_id -> entry code)  KEYS[3]=the purchase path's spent mark
-- ARGV[1]=user_id  ARGV[2]=a new entry code  ARGV[3]=until when the path's spent mark is kept, epoch ms ('0': no
-- path)  ARGV[4]=what the mark holds (the entry's name)
-- With ARGV[5]=n > 0: the request's n rate-limit rules, KEYS[4 .. 3+n] their counters, ARGV[6 ..] a limit and a
-- window in ms for each (limits.lua, put in front of this file), counted once the product is known to be loaded.
-- The window is judged by Redis' clock, and closes for good when the draw takes the entries (meta's `closed`):
-- no entry joins a list the draw has read. A buyer who entered is answered their entry again (their path is not
-- spent a second time); a new entry spends its path, once ('path_used' for any other).
-- returns {answer, code or '', retry_after_ms, rule}: answer 'entered' | 'not_started' | 'ended' | 'disabled'
-- | 'not_draw' | 'path_used' | 'not_loaded' (nothing counted) | 'rate_limited' (retry_after_ms, rule: 1-based)
local meta_key, entries_key, path_key = KEYS[1], KEYS[2], KEYS[3]
local user_id, new_code, path_kept_until, path_holder = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]

local meta = redis.call('HMGET', meta_key, 'enabled', 'start', 'end', 'mode', 'closed')
if not meta[3] then return {'not_loaded', '', 0, 0} end

local rules = tonumber(ARGV[5] or '0')
if rules > 0 then
  local allowed, retry_after, first_full = rate_limit(4, 6, rules)
  if allowed == 0 then return {'rate_limited', '', retry_after, first_full} end
end

if meta[4] ~= 'draw' then return {'not_draw', '', 0, 0} end
if meta[1] ~= '1' then return {'disabled', '', 0, 0} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now_ms < tonumber(meta[2]) then return {'not_started', '', 0, 0} end
if now_ms >= tonumber(meta[3]) or meta[5] == '1' then return {'ended', '', 0, 0} end

local entered = redis.call('HGET', entries_key, user_id)
if entered then return {'entered', entered, 0, 0} end
if path_kept_until > 0 and not redis.call('SET', path_key, path_holder, 'NX', 'PXAT', path_kept_until) then
  return {'path_used', '', 0, 0}
end
redis.call('HSET', entries_key, user_id, new_code)
return {'entered', new_code, 0, 0}
