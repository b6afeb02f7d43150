-- load.lua: bring a product into Redis from the database.
-- KEYS[1]=stock  KEYS[2]=buyers  KEYS[3]=meta
-- ARGV[1]=stock_left (database ledger)  ARGV[2]=enabled 1|0  ARGV[3]=start_ms  ARGV[4]=end_ms
-- ARGV[5]=per_user_limit  ARGV[6]=anti_bot (off | path | challenge)  ARGV[7]=pace (admissions a second, 0: no cap)
-- ARGV[8]=sale mode (first_come | draw)  ARGV[9..]=user_id, request_id pairs of the live orders
-- Meta is configuration and is always written. Stock and buyers are written only when no stock key exists:
-- a live counter runs ahead of the database, and overwriting it with the lagging figure would oversell.
-- returns 1 stock loaded | 0 stock was already live (left as it was)
local stock_key, buyers_key, meta_key = KEYS[1], KEYS[2], KEYS[3]

redis.call('HSET', meta_key, 'enabled', ARGV[2], 'start', ARGV[3], 'end', ARGV[4], 'limit', ARGV[5],
  'antibot', ARGV[6], 'pace', ARGV[7],
  'mode', ARGV[8])
if redis.call('EXISTS', stock_key) == 1 then return 0 end
redis.call('DEL', buyers_key)
for i = 9, #ARGV, 2 do
  redis.call('HSET', buyers_key, ARGV[i], ARGV[i + 1])
end
redis.call('SET', stock_key, ARGV[1])
return 1
