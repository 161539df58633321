-- Admit: check the product cache, take a ticket, store the job, push it, mark the lane ready; one
-- atomic step, so ticket order and queue order are the same order (shop.lanes.door.Door.admit).
-- Needs hot.lua and lines.lua.
--
-- KEYS: 1 the lane's RQ queue, 2 the job hash, 3 ticket, 4 serving, 5 ready list, 6 ready set,
--   7 RQ's set of queues, 8 the set of lanes, 9 the catalog hash, 10 the cart's pending set,
--   11 requested, 12 served, 13 stock, 14 stats, 15 paused, 16 shoppers, 17 sale, 18 prequeue,
--   19 prequeue:demand, 20 the hot-lanes zset, 21 the lines zset, 22 the lines total.
-- ARGV: 1 lane, 2 job id, 3 sku ('' : not a SKU request), 4 qty, 5 cart id, 6 demand, 7 shopper,
--   8 the number of job-hash fields, 9 unit of measure, 10 the hot set's size (0: not a shopper's or
--   operator's request), 11 its half-life, 12 its epoch, 13.. the job hash's fields and values.
-- Returns {ticket, serving, ahead, served, available, held, rate, paused}, or a refusal:
--   {-1} unknown product, {-2, max_per_cart}, {-3, max_per_customer, has}, {-4, ...} pre-queued,
--   {-5, start_ms} the sale's pre-queue is not drawn yet, {-6} unknown unit.

-- The product's admission facts: "max_per_cart|max_per_customer|sale_starts_at in ms|base unit|
-- unit=conversion,unit=conversion" (0: none). Limits and demand count base units: a quantity in
-- another unit (ARGV[9]) is multiplied by its conversion; an unknown unit is refused (-6).
local facts = {0, 0, 0}
local qty, factor = tonumber(ARGV[4]), 1
if ARGV[3] ~= '' then
  local cached = redis.call('HGET', KEYS[9], ARGV[3])
  if not cached then return {-1, 0} end
  local n = 0
  for part in string.gmatch(cached, '[^|]+') do n = n + 1; facts[n] = part end
  for i = 1, 3 do facts[i] = tonumber(facts[i]) end
  local uom = ARGV[9]
  if uom ~= '' and uom ~= (facts[4] or 'pcs') then
    local units = ',' .. (facts[5] or '') .. ','
    local at = string.find(units, ',' .. uom .. '=', 1, true)
    if not at then return {-6, 0} end
    factor = tonumber(string.match(units, '^(%d+)', at + #uom + 2))
  end
  qty = qty * factor
  if qty > facts[1] then return {-2, facts[1]} end
end
-- The per-customer limit counts the shopper's units held, ordered or sold (written by the
-- consumer from the database) and those still in line for them (counted here, settled by FINISH).
local shopper, demand = ARGV[7], tonumber(ARGV[6]) * factor
local per_customer = facts[2] or 0
if shopper ~= '' and per_customer > 0 then
  if qty > per_customer then return {-3, per_customer, 0} end
  local has = tonumber(redis.call('HGET', KEYS[16], shopper) or '0')
  has = has + tonumber(redis.call('HGET', KEYS[16], shopper .. ':q') or '0')
  if has + demand > per_customer then return {-3, per_customer, has} end
end
local nfields = tonumber(ARGV[8])
local fields = {}
local hot_limit, half_life, epoch = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
for i = 13, 12 + 2 * nfields do fields[#fields + 1] = ARGV[i] end
-- Before the sale starts shoppers' requests wait in the pre-queue, without a ticket: at the start
-- the OPEN script draws their order. After the start, a pre-queue not drawn yet must be first (-5).
-- Requests without a cart (an operator's stock change) are not shoppers': they go in line.
local start_ms = facts[3] or 0
if ARGV[5] == '' then start_ms = 0 end
if start_ms > 0 and tonumber(redis.call('HGET', KEYS[17], 'opened_for') or '-1') ~= start_ms then
  local clock = redis.call('TIME')
  local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  if now_ms < start_ms then
    redis.call('HSET', KEYS[2], unpack(fields))
    redis.call('HSET', KEYS[2], 'shop_lane', ARGV[1], 'shop_demand', demand, 'shop_shopper', shopper,
      'shop_prequeue', start_ms)
    redis.call('RPUSH', KEYS[18], ARGV[2])
    redis.call('INCRBY', KEYS[19], demand)
    if shopper ~= '' and demand > 0 then redis.call('HINCRBY', KEYS[16], shopper .. ':q', demand) end
    if ARGV[5] ~= '' then
      redis.call('SADD', KEYS[10], ARGV[2])
      redis.call('EXPIRE', KEYS[10], 86400)
    end
    redis.call('SADD', KEYS[8], ARGV[1])
    bump_hot(KEYS[20], ARGV[1], hot_limit, half_life, epoch)
    local stock = redis.call('HMGET', KEYS[13], 'available', 'held')
    return {-4, start_ms - now_ms, redis.call('LLEN', KEYS[18]), redis.call('GET', KEYS[19]),
      stock[1] or '', stock[2] or ''}
  end
  if redis.call('LLEN', KEYS[18]) > 0 then return {-5, start_ms} end
end
local ticket = redis.call('INCR', KEYS[3])
-- The quantity asked for ahead of this request, issued with its ticket (see shop.domain.odds).
local before = tonumber(redis.call('GET', KEYS[11]) or '0')
if demand > 0 then redis.call('INCRBY', KEYS[11], demand) end
if shopper ~= '' and demand > 0 then redis.call('HINCRBY', KEYS[16], shopper .. ':q', demand) end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('HSET', KEYS[2], 'shop_ticket', ticket, 'shop_lane', ARGV[1], 'shop_ahead_qty', before,
  'shop_demand', demand, 'shop_shopper', shopper)
redis.call('RPUSH', KEYS[1], ARGV[2])
note_line(KEYS[1], KEYS[21], KEYS[22], ARGV[1])
bump_hot(KEYS[20], ARGV[1], hot_limit, half_life, epoch)
redis.call('SADD', KEYS[7], KEYS[1])
redis.call('SADD', KEYS[8], ARGV[1])
if ARGV[5] ~= '' then
  redis.call('SADD', KEYS[10], ARGV[2])
  redis.call('EXPIRE', KEYS[10], 86400)
end
if redis.call('SADD', KEYS[6], ARGV[1]) == 1 then redis.call('RPUSH', KEYS[5], ARGV[1]) end
local serving = tonumber(redis.call('GET', KEYS[4]) or '0')
redis.call('HSET', KEYS[2], 'shop_joined', math.max(0, ticket - serving - 1))
local served = redis.call('GET', KEYS[12]) or '0'
local stock = redis.call('HMGET', KEYS[13], 'available', 'held')
local rate = redis.call('HGET', KEYS[14], 'rate') or ''
local paused = redis.call('EXISTS', KEYS[15])
return {ticket, serving, before, served, stock[1] or '', stock[2] or '', rate, paused}
