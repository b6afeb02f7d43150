-- draw_close.lua: the draw takes its entries: once the window has ended by Redis' clock (the clock enter.lua judges
-- entries by), the entries close for good (meta's `closed`: enter.lua refuses any more) and are read in the same
-- step, so no entry joins a list the draw has read.
-- KEYS[1]=meta  KEYS[2]=entries (hash user_id -> entry code)
-- returns {'closed', user_id, code, ...} | {'open'} (the window has not ended by Redis' clock: nothing changed)
-- | false when Redis does not hold the product (its data lost: the entries with it; never drawn from an empty list)
local meta_key, entries_key = KEYS[1], KEYS[2]
local ends = redis.call('HGET', meta_key, 'end')
if not ends then return false end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < tonumber(ends) then return {'open'} end
redis.call('HSET', meta_key, 'closed', '1')
local closed = redis.call('HGETALL', entries_key)
table.insert(closed, 1, 'closed')
return closed
