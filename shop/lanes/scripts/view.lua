-- Read a job's status, its lane's figures and its latest result in one round trip
-- (shop.lanes.door.Door.view). The lane is only known from the job hash, so its keys are built from
-- the prefix and tails shop.lanes.keys gives.
-- KEYS: 1 the job hash, 2 its results stream, 3 the catalog hash.
-- ARGV: 1 job id, 2 the SKU lane prefix, 3 the lane-key prefix, then the tails of 4 serving,
--   5 served, 6 stock, 7 stats, 8 paused, 9 waitlist, 10 prequeue:demand.
local v = redis.call('HMGET', KEYS[1], 'status', 'shop_ticket', 'shop_lane', 'shop_cart', 'shop_ahead_qty',
  'shop_demand', 'shop_prequeue')
if not v[1] then return false end
local serving, served, stock, rate, paused, rank = '0', '0', {}, false, 0, false
local starts_in, prequeued = '', ''
if v[3] then
  local lane = ARGV[3] .. v[3]
  serving = redis.call('GET', lane .. ARGV[4]) or '0'
  served = redis.call('GET', lane .. ARGV[5]) or '0'
  stock = redis.call('HMGET', lane .. ARGV[6], 'available', 'held')
  rate = redis.call('HGET', lane .. ARGV[7], 'rate')
  paused = redis.call('EXISTS', lane .. ARGV[8])
  if v[1] == 'deferred' then rank = redis.call('ZRANK', lane .. ARGV[9], ARGV[1]) end
  if v[7] then
    -- The countdown follows the product's start as it is now (an operator may have moved it).
    local start_ms = tonumber(v[7])
    local facts = redis.call('HGET', KEYS[3], string.sub(v[3], #ARGV[2] + 1))
    if facts then start_ms = tonumber(string.match(facts, '^[^|]*|[^|]*|(%d+)') or start_ms) end
    local clock = redis.call('TIME')
    starts_in = start_ms - (tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000))
    prequeued = redis.call('GET', lane .. ARGV[10]) or '0'
  end
end
local result = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
return {v[1], v[2] or '', v[3] or '', v[4] or '', serving, result, rate or '', v[5] or '', v[6] or '',
  served, stock[1] or '', stock[2] or '', paused, rank or -1, starts_in, prequeued}
