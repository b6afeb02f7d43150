-- beat_lease.lua: one celery beat runs the schedule at a time, whichever host runs it (seckill/ops/beat_lease.py).
-- KEYS[1]=the lease  ARGV[1]=this beat's id  ARGV[2]=the lease's lifetime in ms (0: give it up, if held)
-- The holder renews its lease at each tick; another beat takes it only once it has lapsed (its holder died,
-- lost Redis or could not reach the broker for that long).
-- returns 1: this beat holds the lease (taken or renewed), 0: it does not (another beat does, or given up)
local lease_key = KEYS[1]
local beat_id, ttl_ms = ARGV[1], tonumber(ARGV[2])

local holder = redis.call('GET', lease_key)
if ttl_ms == 0 then
  if holder == beat_id then redis.call('DEL', lease_key) end
  return 0
end
if holder == false then
  redis.call('SET', lease_key, beat_id, 'PX', ttl_ms)
  return 1
end
if holder == beat_id then
  redis.call('PEXPIRE', lease_key, ttl_ms)
  return 1
end
return 0
