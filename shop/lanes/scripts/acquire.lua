-- Take a lane's lease and a fencing token above a floor (shop.lanes.lease.Lease.acquire).
-- KEYS: 1 lease, 2 fence. ARGV: 1 owner, 2 lease ms, 3 floor. Returns the token, 0 if leased.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local token = redis.call('INCR', KEYS[2])
  local floor = tonumber(ARGV[3])
  if token <= floor then
    redis.call('SET', KEYS[2], floor + 1)
    token = floor + 1
  end
  return token
end
return 0
