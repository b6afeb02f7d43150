-- draw_close.lua: the draw takes its entries: the entries close for good (meta's `closed`: enter.lua refuses any
-- more, whatever the clocks say) and are read in the same step, so no entry joins a list the draw has read.
-- KEYS[1]=meta  KEYS[2]=entries (hash user_id -> entry code)
-- returns the entries as HGETALL does (user_id, code, ...), or false when Redis does not hold the product (its
-- data lost: the entries with it; the draw is not held from an empty list)
local meta_key, entries_key = KEYS[1], KEYS[2]
if redis.call('EXISTS', meta_key) == 0 then return false end
redis.call('HSET', meta_key, 'closed', '1')
return redis.call('HGETALL', entries_key)
