-- Give a busy lane back to the pool: drop the lease and announce the lane again
-- (shop.lanes.lease.Lease.yield_lane).
-- KEYS: 1 lease, 2 ready list, 3 ready set. ARGV: 1 owner, 2 lane.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
