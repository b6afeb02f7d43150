-- release.lua: give back a reservation whose order could not be written. Idempotent.
-- KEYS[1]=stock  KEYS[2]=buyers
-- ARGV[1]=request_id  ARGV[2]=user_id  ARGV[3]=quantity
-- returns 1 released | 0 nothing to release (this request holds no reservation: already released or never made)
local stock_key, buyers_key = KEYS[1], KEYS[2]
local request_id, user_id, qty = ARGV[1], ARGV[2], tonumber(ARGV[3])

if redis.call('HGET', buyers_key, user_id) ~= request_id then return 0 end
redis.call('HDEL', buyers_key, user_id)
if redis.call('EXISTS', stock_key) == 1 then redis.call('INCRBY', stock_key, qty) end
return 1
