-- Library: bump_hot(key, lane, limit, half_life, epoch), the lanes' activity ranking (shop:lanes:hot).
--
-- Lane activity with exponential decay, kept as "forward decay" (Cormode et al., 2009): an arrival
-- at time t adds 2^((t - epoch) / half-life) to its lane's score, so a lane's score divided by
-- 2^((now - epoch) / half-life), the same for every lane, is its arrivals each weighted by
-- 2^-(age / half-life). The order of the scores is therefore the order of decayed activity at any
-- moment, without a job rewriting every score as time passes. The sum is kept as its base-2
-- logarithm, which grows by one per half-life (about 1.6 million by 2026, exact in a double) instead
-- of overflowing.
-- The set keeps at most `limit` lanes, as Space-Saving does (Metwally et al., 2005): a lane not
-- in a full set takes the place of the least active one and starts from its score. A newly busy lane
-- therefore gets in at once (rather than being pushed out again by every lane that is a little busier
-- than its first arrival), and any lane more active than the least active kept one is in the set;
-- a newcomer's score is high by at most that least score. ZREMRANGEBYRANK trims a set left larger
-- by a smaller HOT_LANES.
local function bump_hot(key, lane, limit, half_life, epoch)
  if limit <= 0 then return end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) - epoch + tonumber(clock[2]) / 1000000
  local x = now / half_life
  local old = redis.call('ZSCORE', key, lane)
  if not old and redis.call('ZCARD', key) >= limit then
    local least = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    redis.call('ZREM', key, least[1])
    old = least[2]
  end
  local score = x
  if old then
    old = tonumber(old)
    local high = math.max(old, x)
    score = high + math.log(2 ^ (old - high) + 2 ^ (x - high)) / math.log(2)
  end
  redis.call('ZADD', key, string.format('%.17g', score), lane)
  redis.call('ZREMRANGEBYRANK', key, 0, -limit - 1)
end
