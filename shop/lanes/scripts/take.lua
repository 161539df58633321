-- Take: move the next batch from the lane to its in-flight list, or hand back an unfinished one
-- (shop.lanes.lease.Lease.take). Needs lines.lua.
--
-- KEYS: 1 the lane's RQ queue, 2 inflight, 3 lease, 4 paused, 5 the lines zset, 6 the lines total.
-- ARGV: 1 owner, 2 batch size, 3 lease ms, 4 started_at, 5 the job-hash key prefix, 6 lane.
-- Returns false if the lease is not ours, -1 if paused, else per job its id and TAKEN_FIELDS values:
--   data, ticket, enqueued_at, ahead, demand, shopper, note.
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return false end
-- Read with the take, so nothing put in line after a pause is given out before the resume.
if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
if #ids == 0 then
  ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
  if #ids > 0 then
    redis.call('LTRIM', KEYS[1], #ids, -1)
    redis.call('RPUSH', KEYS[2], unpack(ids))
  end
  note_line(KEYS[1], KEYS[5], KEYS[6], ARGV[6])
end
local out = {}
for _, id in ipairs(ids) do
  local key = ARGV[5] .. id
  local v = redis.call('HMGET', key, 'data', 'shop_ticket', 'enqueued_at', 'shop_ahead_qty', 'shop_demand',
    'shop_shopper', 'shop_note')
  if v[1] then
    redis.call('HSET', key, 'status', 'started', 'started_at', ARGV[4], 'worker_name', ARGV[1])
  end
  out[#out + 1] = id
  for f = 1, 7 do out[#out + 1] = v[f] or '' end
end
return out
