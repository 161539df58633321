-- Library: note_line(queue, zset, total, lane), the lengths of the lanes' lines (shop:lanes:lines).
--
-- Every script that changes a lane's RQ queue records its new length here, so the longest lines and
-- the total in line are read without visiting every lane. Each call sets the lane's figure from LLEN
-- and moves the total by the difference, so a figure made stale (an RQ queue emptied by hand in
-- rq-dashboard) is corrected the next time that lane is touched.
local function note_line(queue, zset, total, lane)
  local length = redis.call('LLEN', queue)
  local before = tonumber(redis.call('ZSCORE', zset, lane) or '0')
  if length > 0 then redis.call('ZADD', zset, length, lane) else redis.call('ZREM', zset, lane) end
  if length ~= before then redis.call('INCRBY', total, length - before) end
end
