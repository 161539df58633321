-- Re-announce lanes with work but no lease holder, their consumer having died
-- (shop.lanes.lease.Lease.rescue). The lanes are only known while running, so their keys are built
-- from the prefixes and tails shop.lanes.keys gives.
-- KEYS: 1 ready set, 2 ready list, 3 the set of lanes.
-- ARGV: 1 the RQ queue prefix, 2 the lane-key prefix, then the tails of 3 inflight, 4 lease, 5 paused.
local queue_prefix, lane_prefix, inflight, lease, paused_tail = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rescued = 0
for _, lane in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local pending = redis.call('LLEN', queue_prefix .. lane)
  pending = pending + redis.call('LLEN', lane_prefix .. lane .. inflight)
  local leased = redis.call('EXISTS', lane_prefix .. lane .. lease) == 1
  local paused = redis.call('EXISTS', lane_prefix .. lane .. paused_tail) == 1
  if pending > 0 and not leased and not paused then
    redis.call('SADD', KEYS[1], lane)
    redis.call('RPUSH', KEYS[2], lane)
    rescued = rescued + 1
  end
end
return rescued
