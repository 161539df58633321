-- Blend a batch's apply rate into the lane's moving average inside Redis: one round trip, no race
-- (shop.lanes.metrics.record_batch).
-- KEYS: 1 the lane's stats hash. ARGV: 1 the batch's rate, 2 now (s), 3 requests applied.
local rate = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'rate') or '')
if current then rate = 0.8 * current + 0.2 * rate end
redis.call('HSET', KEYS[1], 'rate', string.format('%.2f', rate), 'updated_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'applied', ARGV[3])
return 1
