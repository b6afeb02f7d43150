-- path_give_back.lua: unspend a purchase path its request's home bucket held while sold out (admit.lua), when no
-- other bucket admitted the request: a path is spent only by a request it admits. Only the holder's own mark goes
-- (another request may have spent the path meanwhile: its mark stays).
-- KEYS[1]=the path's spent mark  ARGV[1]=the request id that held it
-- returns 1 given back | 0 not this request's mark
local mark = KEYS[1]
if redis.call('GET', mark) == ARGV[1] then return redis.call('DEL', mark) end
return 0
