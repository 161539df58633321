-- Give the lease up only if the lane is empty, so no pushed request is ever stranded
-- (shop.lanes.lease.Lease.release_if_idle).
-- KEYS: 1 the lane's RQ queue, 2 inflight, 3 lease, 4 ready set. ARGV: 1 owner, 2 lane.
-- Returns 1 released, 0 more work arrived, -1 the lease was not ours.
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
if redis.call('LLEN', KEYS[1]) > 0 or redis.call('LLEN', KEYS[2]) > 0 then return 0 end
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
