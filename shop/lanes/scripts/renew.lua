-- Extend the lease if it is still the owner's (shop.lanes.lease.Lease.renew).
-- KEYS: 1 lease. ARGV: 1 owner, 2 lease ms.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
