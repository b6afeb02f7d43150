-- adjust.lua: apply a stock edit (a delta, never an absolute figure) to a live counter.
-- KEYS[1]=stock  ARGV[1]=delta (signed integer)
-- returns {1, new_stock} applied | {0, stock} refused: it would go below zero | {-9, -1} product not loaded
local stock_key, delta = KEYS[1], tonumber(ARGV[1])

local stock = redis.call('GET', stock_key)
if not stock then return {-9, -1} end
stock = tonumber(stock)
if stock + delta < 0 then return {0, stock} end
return {1, redis.call('INCRBY', stock_key, delta)}
