-- Open a sale: draw the pre-queue's order (draw.lua) and give it tickets, behind a first job that
-- records the draw in the SKU's ledger; once per sale start, however many callers race
-- (shop.lanes.sales.Sales.open_sale). Needs draw.lua and lines.lua.
--
-- KEYS: 1 sale, 2 prequeue, 3 prequeue:demand, 4 the lane's RQ queue, 5 ticket, 6 requested,
--   7 serving, 8 ready list, 9 ready set, 10 RQ's set of queues, 11 the set of lanes, 12 the first
--   job's hash, 13 the lines zset, 14 the lines total.
-- ARGV: 1 lane, 2 start ms, 3 seed, 4 the first job's id, 5 the job-hash key prefix, 6 the number of
--   the first job's fields, 7.. its fields and values, then '1' to draw before the start (forced).
-- Returns how many were drawn; -1 opened already, -2 not started yet.
local start_ms = tonumber(ARGV[2])
if tonumber(redis.call('HGET', KEYS[1], 'opened_for') or '-1') == start_ms then return -1 end
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- ARGV[7 + 2n] = '1': an operator moved the start to now or cleared it: draw the pre-queue at once.
if now_ms < start_ms and ARGV[7 + 2 * tonumber(ARGV[6])] ~= '1' then return -2 end
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('HSET', KEYS[1], 'opened_for', ARGV[2], 'seed', ARGV[3], 'count', #ids, 'opened_at', now_ms)
if #ids == 0 then return 0 end
local ticket = redis.call('INCR', KEYS[5])
local nfields = tonumber(ARGV[6])
local fields = {}
for i = 7, 6 + 2 * nfields do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[12], unpack(fields))
redis.call('HSET', KEYS[12], 'shop_ticket', ticket, 'shop_lane', ARGV[1], 'shop_demand', 0,
  'shop_ahead_qty', redis.call('GET', KEYS[6]) or '0', 'shop_shopper', '',
  'shop_note', cjson.encode({count = #ids, first_ticket = ticket + 1}))
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('HSET', KEYS[1], 'first_ticket', ticket + 1)
draw(ids, tonumber(ARGV[3]))
local serving = tonumber(redis.call('GET', KEYS[7]) or '0')
for place, id in ipairs(ids) do
  local key = ARGV[5] .. id
  local demand = tonumber(redis.call('HGET', key, 'shop_demand') or '0')
  local before = tonumber(redis.call('GET', KEYS[6]) or '0')
  if demand > 0 then redis.call('INCRBY', KEYS[6], demand) end
  ticket = redis.call('INCR', KEYS[5])
  redis.call('HSET', key, 'shop_ticket', ticket, 'shop_ahead_qty', before,
    'shop_joined', ticket - serving - 1, 'shop_note', cjson.encode({prequeued = true, draw = place}))
  redis.call('HDEL', key, 'shop_prequeue')
  redis.call('RPUSH', KEYS[4], id)
end
redis.call('DEL', KEYS[2], KEYS[3])
note_line(KEYS[4], KEYS[13], KEYS[14], ARGV[1])
redis.call('SADD', KEYS[10], KEYS[4])
redis.call('SADD', KEYS[11], ARGV[1])
if redis.call('SADD', KEYS[9], ARGV[1]) == 1 then redis.call('RPUSH', KEYS[8], ARGV[1]) end
return #ids
