-- beat_lease.lua: one celery beat runs the schedule at a time, whichever host runs it (docs/deploy.md).
-- KEYS[1]=the lease  ARGV[1]=this beat's id  ARGV[2]=the lease's lifetime in ms
-- The holder renews its lease at each tick; another beat takes it only once it has lapsed (its holder died or
-- lost Redis for that long).
-- returns 1: this beat holds the lease (taken or renewed), 0: another beat does
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
