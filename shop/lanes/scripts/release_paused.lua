-- Give up a paused lane's lease without announcing it; resuming announces it again
-- (shop.lanes.lease.Lease.release_paused).
-- KEYS: 1 lease, 2 ready set. ARGV: 1 owner, 2 lane.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
