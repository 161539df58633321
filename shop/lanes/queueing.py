"""Lanes: per-SKU RQ queues with tickets, a reliable in-flight list, leases and fencing tokens.

Everything the web tier and the consumers do in Redis lives here. Each lane is a real RQ queue
(``rq:queue:<lane>``) holding real RQ job hashes, so rq-dashboard shows them; what RQ lacks is done
in small Lua scripts, each one atomic step:

* admit: check the product cache, take a ticket, store the job, push it, mark the lane ready;
  ticket order and queue order are therefore the same order.
* take: move the next batch from the lane to its in-flight list (or hand back an unfinished one).
* finish: clear the in-flight list and advance now-serving to the last applied ticket.
* release: give the lease up only if the lane is empty, so no pushed request is ever stranded.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import re
import uuid
import zlib
from base64 import b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.results import Result
from rq.serializers import DefaultSerializer
from rq.utils import current_timestamp, utcformat, utcparse
from rq_scheduler import Scheduler

from shop.domain.draw import LUA_DRAW, new_seed
from shop.domain.errors import OverCustomerLimit, OverLimit, UnknownProduct, UnknownUnit
from shop.domain.odds import Eta, Odds, estimate_wait, line_odds, prequeue_odds, waitlist_odds
from shop.domain.requests import SKU_LANE_PREFIX, OutcomeDict, QueuedRequest
from shop.lanes.decisions import decided_channel
from shop.storage.models import utcnow

log = logging.getLogger(__name__)

READY_LIST = "shop:ready"
READY_SET = "shop:ready:set"
LANES_SET = "shop:lanes"
# Lanes by recent activity (see LUA_HOT): a sorted set of at most HOT_LANES members.
HOT_LANES_ZSET = "shop:lanes:hot"
# Lanes with a line, scored by its length, and the sum of those lengths (see LUA_LINES).
LINES_ZSET = "shop:lanes:lines"
LINES_TOTAL = "shop:lanes:lines:total"
# Activity halves every minute: the board's "hottest" follows the last few minutes of a sale.
HOT_HALF_LIFE_S = 60
# The fixed landmark of the forward decay (2023-11-14 UTC); any fixed moment in the past will do.
HOT_EPOCH_S = 1_700_000_000
HOT_LANES_DEFAULT = 500
CATALOG_HASH = "shop:catalog:max_per_cart"
JOB_FUNC_PREFIX = "workers.jobs."
MIN_POLL_MS = 500
FASTEST_POLL_MS = 200
MAX_POLL_MS = 10_000
POLL_MS_PER_POSITION = 20
# A waitlisted request changes only when units come back: its shopper polls at a calm pace.
WAITLIST_POLL_MS = 3000
WAITLISTED = "waitlisted"
PREQUEUE = "prequeue"
# Sale starts waiting to be opened by the scheduler: lane -> sale_starts_at in ms.
SALES_ZSET = "shop:sales"
# What a shopper is told about a request that failed (FAILED in RQ): true whether it failed
# before its change was committed or while its result was being published.


class TakeRefused(enum.Enum):
    """Why ``Lanes.take`` gave out nothing although the lane may have work."""

    PAUSED = "paused"


LANE_PAUSED = TakeRefused.PAUSED
FAILED_MESSAGE = "The request could not be completed. Check your cart before sending it again."


def lane_key(lane: str, part: str) -> str:
    return f"shop:lane:{lane}:{part}"


def queue_key(lane: str) -> str:
    return Queue.redis_queue_namespace_prefix + lane


def lane_skus(lanes: Iterable[str]) -> list[str]:
    """The SKUs of those lanes that are SKU lanes (not checkout or maintenance), in their order."""
    return [lane.removeprefix(SKU_LANE_PREFIX) for lane in lanes if lane.startswith(SKU_LANE_PREFIX)]


def cart_pending_key(cart_id: str) -> str:
    return f"shop:cart:{cart_id}:pending"


# Lane activity with exponential decay, kept as "forward decay" (Cormode et al., 2009): an arrival
# at time t adds 2^((t - epoch) / half-life) to its lane's score, so a lane's score divided by
# 2^((now - epoch) / half-life), the same for every lane, is its arrivals each weighted by
# 2^-(age / half-life). The order of the scores is therefore the order of decayed activity at any
# moment, without a job rewriting every score as time passes. The sum is kept as its base-2
# logarithm, which grows by one per half-life (about 1.6 million by 2026, exact in a double) instead
# of overflowing.
# The set keeps at most ARGV limit lanes, as Space-Saving does (Metwally et al., 2005): a lane not
# in a full set takes the place of the least active one and starts from its score. A newly busy lane
# therefore gets in at once (rather than being pushed out again by every lane that is a little busier
# than its first arrival), and any lane more active than the least active kept one is in the set;
# a newcomer's score is high by at most that least score. ZREMRANGEBYRANK trims a set left larger
# by a smaller HOT_LANES.
LUA_HOT = """
local function bump_hot(key, lane, limit, half_life)
  if limit <= 0 then return end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) - HOT_EPOCH + tonumber(clock[2]) / 1000000
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
""".replace("HOT_EPOCH", str(HOT_EPOCH_S))

# Every script that changes a lane's RQ queue records its new length here, so the longest lines and
# the total in line are read without visiting every lane. Each call sets the lane's figure from LLEN
# and moves the total by the difference, so a figure made stale (an RQ queue emptied by hand in
# rq-dashboard) is corrected the next time that lane is touched.
LUA_LINES = """
local function note_line(queue, zset, total, lane)
  local length = redis.call('LLEN', queue)
  local before = tonumber(redis.call('ZSCORE', zset, lane) or '0')
  if length > 0 then redis.call('ZADD', zset, length, lane) else redis.call('ZREM', zset, lane) end
  if length ~= before then redis.call('INCRBY', total, length - before) end
end
"""


ADMIT = (
    LUA_HOT
    + LUA_LINES
    + """
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
-- ARGV[10], ARGV[11]: the hot set's size (0: not a shopper's or operator's request) and half-life.
local hot_limit, half_life = tonumber(ARGV[10]), tonumber(ARGV[11])
for i = 12, 11 + 2 * nfields do fields[#fields + 1] = ARGV[i] end
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
    bump_hot(KEYS[20], ARGV[1], hot_limit, half_life)
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
bump_hot(KEYS[20], ARGV[1], hot_limit, half_life)
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
"""
)

# Opens a sale: draws the pre-queue's order (shop.domain.draw) and gives it tickets, behind a first job
# that records the draw in the SKU's ledger; once per sale start, however many callers race.
OPEN = (
    LUA_DRAW
    + LUA_LINES
    + """
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
"""
)

ACQUIRE = """
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
"""

# What TAKE returns per job besides its id: data, ticket, enqueued_at, ahead, demand, shopper, note.
TAKEN_FIELDS = 7

TAKE = (
    LUA_LINES
    + """
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
"""
)

FINISH = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local ticket = tonumber(ARGV[2])
local issued = tonumber(redis.call('GET', KEYS[4]) or '0')
local serving = tonumber(redis.call('GET', KEYS[2]) or '0')
if ticket > serving and ticket <= issued then redis.call('SET', KEYS[2], ticket) end
-- The quantity served advances with now-serving: to the cumulative quantity of the last applied.
local upto = tonumber(ARGV[4])
local requested = tonumber(redis.call('GET', KEYS[6]) or '0')
if upto > tonumber(redis.call('GET', KEYS[5]) or '0') and upto <= requested then
  redis.call('SET', KEYS[5], upto)
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[7], 'available', ARGV[5], 'held', ARGV[6]) end
-- Shoppers' units in line leave the line; their units held, ordered or sold are the database's.
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  local field = ARGV[i] .. ':q'
  local left = redis.call('HINCRBY', KEYS[8], field, -tonumber(ARGV[i + 1]))
  if left <= 0 then redis.call('HDEL', KEYS[8], field) end
  i = i + 2
end
local nset = tonumber(ARGV[i])
for j = 1, nset do redis.call('HSET', KEYS[8], ARGV[i + 2 * j - 1], ARGV[i + 2 * j]) end
i = i + 2 * nset + 1
-- The waitlist's order for the job view's position: joined (job id, entry id), then resolved.
for _ = 1, tonumber(ARGV[i]) do
  redis.call('ZADD', KEYS[9], ARGV[i + 2], ARGV[i + 1])
  i = i + 2
end
i = i + 1
for _ = 1, tonumber(ARGV[i]) do
  redis.call('ZREM', KEYS[9], ARGV[i + 1])
  i = i + 1
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
"""

PUBLISH = """
local job_prefix, result_prefix, ended, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local owner, registry, registry_score = ARGV[5], ARGV[6], ARGV[7]
local i = 9
for _ = 1, tonumber(ARGV[8]) do
  local id, value, pending, seq, status = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  local key = job_prefix .. id
  redis.call('HSET', key, 'status', status, 'ended_at', ended)
  if seq ~= '' then redis.call('HSET', key, 'shop_seq', seq) end
  redis.call('EXPIRE', key, ttl)
  local results = result_prefix .. id
  redis.call('XADD', results, 'MAXLEN', '~', 10, '*', 'type', 1, 'worker_name', owner, 'return_value', value)
  redis.call('EXPIRE', results, ttl)
  -- A waitlisted job ('deferred') is not done: it stays in its cart's pending set until resolved.
  if status == 'finished' then
    redis.call('ZADD', registry, registry_score, id)
    if pending ~= '' then redis.call('SREM', pending, id) end
  end
end
-- What expired by now (its score is when its result expires): the registry stays as long as a TTL.
redis.call('ZREMRANGEBYSCORE', registry, 0, registry_score - ttl)
local ncommon = tonumber(ARGV[i])
local common = {}
for j = 1, 2 * ncommon do common[j] = ARGV[i + j] end
i = i + 2 * ncommon + 1
for _ = 1, tonumber(ARGV[i]) do
  local key, zset, member, score = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local nown = tonumber(ARGV[i + 5])
  i = i + 5
  if ncommon > 0 then redis.call('HSET', key, unpack(common)) end
  if nown > 0 then redis.call('HSET', key, unpack(ARGV, i + 1, i + 2 * nown)) end
  i = i + 2 * nown
  redis.call('ZADD', zset, score, member)
end
return 1
"""

# One call per batch (issue 21): PUBLISH, the long-poll announcement, then (unless only part of a
# batch is published) FINISH, whose arguments follow PUBLISH's. A pipeline of the three scripts cost a
# SCRIPT EXISTS round trip per batch (redis-py checks a pipeline's scripts before every execute).
PUBLISH_BATCH = (
    PUBLISH.removesuffix("return 1\n")
    + """redis.call('PUBLISH', ARGV[i + 1], ARGV[i + 2])
if ARGV[i + 3] == '1' then
  local o = i + 3
"""
    + re.sub(r"ARGV\[", "ARGV[o + ", FINISH)
    + """end
return 1
"""
)

RELEASE_IF_IDLE = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
if redis.call('LLEN', KEYS[1]) > 0 or redis.call('LLEN', KEYS[2]) > 0 then return 0 end
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
"""

YIELD_LANE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
"""

RELEASE_PAUSED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

RESCUE = """
local rescued = 0
for _, lane in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local pending = redis.call('LLEN', 'rq:queue:' .. lane)
  pending = pending + redis.call('LLEN', 'shop:lane:' .. lane .. ':inflight')
  local leased = redis.call('EXISTS', 'shop:lane:' .. lane .. ':lease') == 1
  local paused = redis.call('EXISTS', 'shop:lane:' .. lane .. ':paused') == 1
  if pending > 0 and not leased and not paused then
    redis.call('SADD', KEYS[1], lane)
    redis.call('RPUSH', KEYS[2], lane)
    rescued = rescued + 1
  end
end
return rescued
"""

VIEW = """
local v = redis.call('HMGET', KEYS[1], 'status', 'shop_ticket', 'shop_lane', 'shop_cart', 'shop_ahead_qty',
  'shop_demand', 'shop_prequeue')
if not v[1] then return false end
local serving, served, stock, rate, paused, rank = '0', '0', {}, false, 0, false
local starts_in, prequeued = '', ''
if v[3] then
  local lane = 'shop:lane:' .. v[3] .. ':'
  serving = redis.call('GET', lane .. 'serving') or '0'
  served = redis.call('GET', lane .. 'served') or '0'
  stock = redis.call('HMGET', lane .. 'stock', 'available', 'held')
  rate = redis.call('HGET', lane .. 'stats', 'rate')
  paused = redis.call('EXISTS', lane .. 'paused')
  if v[1] == 'deferred' then rank = redis.call('ZRANK', lane .. 'waitlist', ARGV[1]) end
  if v[7] then
    -- The countdown follows the product's start as it is now (an operator may have moved it).
    local start_ms = tonumber(v[7])
    local facts = redis.call('HGET', 'shop:catalog:max_per_cart', string.sub(v[3], 5))
    if facts then start_ms = tonumber(string.match(facts, '^[^|]*|[^|]*|(%d+)') or start_ms) end
    local clock = redis.call('TIME')
    starts_in = start_ms - (tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000))
    prequeued = redis.call('GET', lane .. 'prequeue:demand') or '0'
  end
end
local result = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
return {v[1], v[2] or '', v[3] or '', v[4] or '', serving, result, rate or '', v[5] or '', v[6] or '',
  served, stock[1] or '', stock[2] or '', paused, rank or -1, starts_in, prequeued}
"""


@dataclass(frozen=True)
class Admission:
    """What the shopper is told the moment their request is in line (or in a sale's pre-queue)."""

    job_id: str
    lane: str
    ticket: int | None
    position: int | None
    odds: Odds | None = None
    eta: Eta | None = None
    # In the pre-queue: milliseconds until the sale starts (and the draw gives it a place).
    starts_in_ms: int | None = None

    @property
    def status(self) -> str:
        return PREQUEUE if self.starts_in_ms is not None else JobStatus.QUEUED


@dataclass(frozen=True)
class JobState:
    job_id: str
    status: str
    lane: str
    cart_id: str
    ticket: int | None
    serving: int
    result: Any
    rate: float | None
    # The quantity asked for ahead of this request when it joined, and by it (shop.domain.odds).
    ahead_before: int | None = None
    demand: int = 0
    served: int = 0
    stock: tuple[int, int] | None = None
    paused: bool = False
    # Waitlist entries ahead of this one (0: the next returned unit is theirs); None if not waitlisted.
    waitlist_rank: int | None = None
    # In a sale's pre-queue: milliseconds to the start, and the quantity the whole pre-queue asks for.
    starts_in_ms: int | None = None
    prequeue_demand: int = 0

    @property
    def prequeued(self) -> bool:
        return self.starts_in_ms is not None and self.status == JobStatus.QUEUED

    @property
    def waiting(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)

    @property
    def waitlisted(self) -> bool:
        """Decided sold out for now, but waiting for a unit held in a cart to come back."""
        return self.status == JobStatus.DEFERRED and self.lane.startswith(SKU_LANE_PREFIX)

    @property
    def shown_status(self) -> str:
        """The status the API shows: RQ's, with ``waitlisted`` and ``prequeue`` for the shop's waits."""
        if self.prequeued:
            return PREQUEUE
        return WAITLISTED if self.waitlisted else self.status

    @property
    def odds(self) -> Odds | None:
        """Units available and held, and the verdict from the line ahead; None once decided."""
        if not self.waiting or not self.lane.startswith(SKU_LANE_PREFIX):
            return None
        if self.waitlisted:
            return waitlist_odds(self.stock)
        if self.prequeued:
            return prequeue_odds(self.stock, self.prequeue_demand)
        return line_odds(self.stock, self.ahead_before, self.served, self.demand)

    @property
    def eta(self) -> Eta | None:
        """The wait estimate from the lane's apply rate; None once decided, waitlisted or paused."""
        if not self.waiting or self.paused or self.waitlisted or self.prequeued:
            return None
        return estimate_wait(self.position, self.rate)

    @property
    def position(self) -> int | None:
        """Requests of the same lane ahead of this one: O(1) from the ticket and now-serving."""
        if self.status == JobStatus.STARTED:
            return 0
        if self.status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
            if self.ticket is None:
                return None
            return max(0, self.ticket - self.serving - 1)
        return None

    @property
    def poll_after_ms(self) -> int:
        """Poll about twice per expected wait: soon near the front, rarely far back.

        The lane's measured apply rate gives the expected wait; without one (a new lane) the
        interval grows with the position instead. Either way the line's polling stays affordable.
        """
        if self.waitlisted:
            return WAITLIST_POLL_MS
        position = self.position
        if position is None:
            return MIN_POLL_MS
        if self.rate:
            expected_ms = (position + 1) / self.rate * 1000
            return int(min(MAX_POLL_MS, max(FASTEST_POLL_MS, expected_ms / 2)))
        return min(MAX_POLL_MS, MIN_POLL_MS + POLL_MS_PER_POSITION * position)


RECEIPT_FIELDS = (
    "status",
    "shop_cart",
    "shop_lane",
    "shop_ticket",
    "shop_joined",
    "enqueued_at",
    "ended_at",
    "shop_seq",
)


@dataclass(frozen=True)
class Receipt:
    """What happened to one request, from its job in Redis (kept as long as its result)."""

    job_id: str
    status: str
    cart_id: str
    lane: str
    ticket: int | None
    position_when_joined: int | None
    enqueued_at: datetime | None
    applied_at: datetime | None
    ledger_seq: int | None
    result: Any


@dataclass(frozen=True)
class TakenRequest:
    job_id: str
    request: QueuedRequest | None
    enqueued_at: datetime | None = None
    # The lane's cumulative requested quantity up to and including this request.
    requested_through: int | None = None
    # The shopper key and quantity the admit script counted against the per-customer limit.
    shopper: str = ""
    demand: int = 0


class LaneQueue(Queue):
    """An RQ queue whose enqueue goes through the lane's ticket script.

    rq-scheduler moves due jobs (hold expiries, the sweeper) into queues with ``enqueue_job``; using
    this class there keeps those jobs in ticket order with the shoppers' requests.
    """

    def enqueue_job(
        self, job: Job, pipeline: Any = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        Lanes(self.connection).push_existing(job, self.name)
        return job


class Lanes:
    """The Redis operations of the waiting room, for the web tier, the consumers and the scheduler."""

    def __init__(self, redis: Redis, result_ttl: int = 86_400, hot_lanes: int = HOT_LANES_DEFAULT) -> None:
        self.redis = redis
        self.result_ttl = result_ttl
        # How many lanes the activity ranking keeps (HOT_LANES_ZSET): the board's "hottest".
        self.hot_lanes = hot_lanes
        self._admit = redis.register_script(ADMIT)
        self._acquire = redis.register_script(ACQUIRE)
        self._take = redis.register_script(TAKE)
        self._publish_batch = redis.register_script(PUBLISH_BATCH)
        self._release = redis.register_script(RELEASE_IF_IDLE)
        self._yield = redis.register_script(YIELD_LANE)
        self._renew = redis.register_script(RENEW)
        self._release_paused = redis.register_script(RELEASE_PAUSED)
        self._rescue = redis.register_script(RESCUE)
        self._view = redis.register_script(VIEW)
        self._open = redis.register_script(OPEN)

    # --- the web tier -------------------------------------------------------------------------

    def admit(
        self,
        lane: str,
        kind: str,
        params: dict[str, Any],
        *,
        cart_id: str = "",
        sku: str = "",
        qty: int = 0,
        job_id: str | None = None,
        demand: int = 0,
        shopper: str = "",
        uom: str = "",
    ) -> Admission:
        """Put a request in line in one atomic step and return its ticket, position and odds.

        ``demand`` is the quantity the request asks for, counted into the lane's requested total
        so those behind it know how much is wanted ahead of them. ``qty`` and ``demand`` are in
        ``uom`` (the product's base unit if empty); the script counts them in base units.
        """
        job = Job.create(
            JOB_FUNC_PREFIX + kind,
            kwargs=params,
            connection=self.redis,
            id=job_id or uuid.uuid4().hex,
            result_ttl=self.result_ttl,
            failure_ttl=self.result_ttl,
            origin=lane,
            status=JobStatus.QUEUED,
            description=f"{kind} {_describe(params)}",
        )
        return self._push(
            job,
            lane,
            cart_id=cart_id,
            sku=sku,
            qty=qty,
            demand=demand,
            shopper=shopper,
            uom=uom,
            hot=True,
        )

    def push_existing(self, job: Job, lane: str) -> Admission:
        """Put an already created job (one rq-scheduler made) in line behind everyone else.

        Scheduled expiries and sweeps are the shop's own housekeeping, not demand: they leave the
        lane's activity score alone.
        """
        return self._push(job, lane)

    def _push(
        self,
        job: Job,
        lane: str,
        *,
        cart_id: str = "",
        sku: str = "",
        qty: int = 0,
        demand: int = 0,
        shopper: str = "",
        uom: str = "",
        hot: bool = False,
    ) -> Admission:
        job.origin = lane
        job.enqueued_at = utcnow()
        job._status = JobStatus.QUEUED
        mapping = job.to_dict()
        if cart_id:
            mapping["shop_cart"] = cart_id
        flat: list[Any] = []
        for key, value in mapping.items():
            flat.extend((key, value))
        keys = [
            queue_key(lane),
            job.key,
            lane_key(lane, "ticket"),
            lane_key(lane, "serving"),
            READY_LIST,
            READY_SET,
            Queue.redis_queues_keys,
            LANES_SET,
            CATALOG_HASH,
            cart_pending_key(cart_id) if cart_id else lane_key(lane, "nocart"),
            lane_key(lane, "requested"),
            lane_key(lane, "served"),
            lane_key(lane, "stock"),
            lane_key(lane, "stats"),
            lane_key(lane, "paused"),
            lane_key(lane, "shoppers"),
            lane_key(lane, "sale"),
            lane_key(lane, "prequeue"),
            lane_key(lane, "prequeue:demand"),
            HOT_LANES_ZSET,
            LINES_ZSET,
            LINES_TOTAL,
        ]
        args = [
            lane,
            job.id,
            sku,
            qty,
            cart_id,
            demand,
            shopper,
            len(mapping),
            uom,
            self.hot_lanes if hot else 0,
            HOT_HALF_LIFE_S,
            *flat,
        ]
        raw = self._admit(keys=keys, args=args)
        ticket, serving = int(raw[0]), int(raw[1])
        if ticket == -5:
            # The sale has started but its pre-queue is not drawn yet: draw it, then join behind it
            # (once: the draw has happened by then, whoever made it).
            self.open_sale(lane, serving)
            raw = self._admit(keys=keys, args=args)
            ticket, serving = int(raw[0]), int(raw[1])
        if ticket == -4:
            _code, starts_in, _length, prequeue_demand, available, held = raw
            odds = prequeue_odds(_stock(available, held), int(prequeue_demand or 0))
            return Admission(job.id, lane, None, None, odds, None, starts_in_ms=int(starts_in))
        if ticket == -1:
            raise UnknownProduct(sku)
        if ticket == -6:
            raise UnknownUnit(sku, uom)
        if ticket == -2:
            raise OverLimit(serving)
        if ticket == -3:
            raise OverCustomerLimit(serving, int(raw[2]))
        _ticket, _serving, before, served, available, held, rate, paused = raw
        position = max(0, ticket - serving - 1)
        odds = None
        if lane.startswith(SKU_LANE_PREFIX):
            odds = line_odds(_stock(available, held), int(before), int(served), demand)
        eta = None if paused else estimate_wait(position, float(rate) if rate else None)
        return Admission(job.id, lane, ticket, position, odds, eta)

    def cache_product(
        self,
        sku: str,
        max_per_cart: int,
        stock: tuple[int, int] | None = None,
        max_per_customer: int | None = None,
        sale_starts_at: datetime | None = None,
        base_uom: str = "pcs",
        uoms: Sequence[tuple[str, int]] = (),
    ) -> None:
        """Remember a product's existence, limits and units so admission needs no database query.

        ``stock`` (available, held) starts the SKU's stock snapshot for the odds if no consumer has
        written one yet; a consumer's snapshot is newer than any read the web tier made, so it stays.
        """
        start_ms = int(sale_starts_at.timestamp() * 1000) if sale_starts_at else 0
        lane = SKU_LANE_PREFIX + sku
        upcoming = bool(sale_starts_at and sale_starts_at > utcnow())
        pipe = self.redis.pipeline(transaction=False)
        units = ",".join(f"{uom}={conversion}" for uom, conversion in uoms)
        facts = f"{max_per_cart}|{max_per_customer or 0}|{start_ms}|{base_uom}"
        if units:
            facts += f"|{units}"
        pipe.hset(CATALOG_HASH, sku, facts)
        if upcoming:
            # The scheduler opens the sale at its start even if nobody arrives after it.
            pipe.zadd(SALES_ZSET, {lane: start_ms})
        else:
            pipe.zrem(SALES_ZSET, lane)
        pipe.llen(lane_key(lane, "prequeue"))
        if stock is not None:
            stock_key = lane_key(SKU_LANE_PREFIX + sku, "stock")
            pipe.hsetnx(stock_key, "available", stock[0])
            pipe.hsetnx(stock_key, "held", stock[1])
        prequeued = pipe.execute()[2]
        if prequeued and not upcoming:
            # The start was moved to now or cleared while shoppers wait in the pre-queue: draw it now.
            self.open_sale(lane, start_ms, force=True)

    def open_sale(self, lane: str, start_ms: int, force: bool = False) -> int:
        """Draw a started sale's pre-queue order and give it tickets; return how many were drawn.

        -1: this sale start was opened already; -2: it has not come yet (by Redis's clock), unless
        ``force`` (the operator moved the start to now, or cleared it).
        The seed is drawn here and kept in the lane's sale hash, in the log and (through the first
        job in line, which records the draw) in the SKU's ledger; ``shop audit`` recomputes the
        order from it. Atomic in Redis, and done once per sale start whoever calls it.
        """
        seed = new_seed()
        sku = lane.removeprefix(SKU_LANE_PREFIX)
        job = Job.create(
            JOB_FUNC_PREFIX + "open_sale",
            kwargs={"sku": sku, "seed": seed, "start_ms": start_ms},
            connection=self.redis,
            id=uuid.uuid4().hex,
            result_ttl=self.result_ttl,
            failure_ttl=self.result_ttl,
            origin=lane,
            status=JobStatus.QUEUED,
            description=f"open_sale sku={sku} seed={seed}",
        )
        job.enqueued_at = utcnow()
        mapping = job.to_dict()
        flat = [x for pair in mapping.items() for x in pair]
        drawn = int(
            self._open(
                keys=[
                    lane_key(lane, "sale"),
                    lane_key(lane, "prequeue"),
                    lane_key(lane, "prequeue:demand"),
                    queue_key(lane),
                    lane_key(lane, "ticket"),
                    lane_key(lane, "requested"),
                    lane_key(lane, "serving"),
                    READY_LIST,
                    READY_SET,
                    Queue.redis_queues_keys,
                    LANES_SET,
                    job.key,
                    LINES_ZSET,
                    LINES_TOTAL,
                ],
                args=[
                    lane,
                    start_ms,
                    seed,
                    job.id,
                    Job.redis_job_namespace_prefix,
                    len(mapping),
                    *flat,
                    "1" if force else "0",
                ],
            )
        )
        if drawn < 0:
            return drawn
        # Logged at WARNING so the default level keeps it: with the ledger, it is the draw's record.
        log.warning(json.dumps({"event": "sale_opened", "lane": lane, "seed": seed, "prequeued": drawn}))
        return drawn

    def open_due_sales(self) -> list[str]:
        """Open every sale whose start has come (the scheduler calls this every pass)."""
        now_ms = int(utcnow().timestamp() * 1000)
        opened = []
        for member, score in self.redis.zrangebyscore(SALES_ZSET, 0, now_ms, withscores=True):
            lane = member.decode()
            result = self.open_sale(lane, int(score))
            if result != -2:  # not yet by Redis's clock: the next pass tries again
                self.redis.zrem(SALES_ZSET, lane)
            if result >= 0:
                opened.append(lane)
        return opened

    def view(self, job_id: str) -> JobState | None:
        """Read a job's status, position and result in one round trip (None if Redis forgot it)."""
        raw = self._view(keys=[Job.key_for(job_id), Result.get_key(job_id)], args=[job_id])
        if not raw:
            return None
        status, ticket, lane, cart, serving, result_rows, rate, ahead, demand, served = raw[:10]
        available, held, paused, rank, starts_in, prequeued = raw[10:]
        result = None
        if result_rows:
            result_id, payload = result_rows[0]
            fields = dict(zip(payload[::2], payload[1::2], strict=True))
            result = self._restore(job_id, result_id, fields)
        return JobState(
            job_id=job_id,
            status=status.decode(),
            lane=lane.decode(),
            cart_id=cart.decode(),
            ticket=int(ticket) if ticket else None,
            serving=int(serving or 0),
            result=result,
            rate=float(rate) if rate else None,
            ahead_before=int(ahead) if ahead else None,
            demand=int(demand or 0),
            served=int(served or 0),
            stock=_stock(available, held),
            paused=bool(paused),
            waitlist_rank=int(rank) if int(rank) >= 0 else None,
            starts_in_ms=int(starts_in) if starts_in not in (b"", "") else None,
            prequeue_demand=int(prequeued or 0),
        )

    def receipt(self, job_id: str) -> Receipt | None:
        """Read what a request's receipt says, in one round trip (None if Redis forgot the job)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(Job.key_for(job_id), RECEIPT_FIELDS)
        pipe.xrevrange(Result.get_key(job_id), "+", "-", count=1)
        (fields, result_rows) = pipe.execute()
        status, cart, lane, ticket, joined, enqueued, ended, seq = (
            value.decode() if value is not None else None for value in fields
        )
        if status is None:
            return None
        result = None
        if result_rows:
            result_id, payload = result_rows[0]
            result = self._restore(job_id, result_id, payload)
        return Receipt(
            job_id=job_id,
            status=status,
            cart_id=cart or "",
            lane=lane or "",
            ticket=int(ticket) if ticket else None,
            position_when_joined=int(joined) if joined else None,
            enqueued_at=parse_rq_time(enqueued.encode()) if enqueued else None,
            applied_at=parse_rq_time(ended.encode()) if ended else None,
            ledger_seq=int(seq) if seq else None,
            result=result,
        )

    def _restore(self, job_id: str, result_id: bytes, fields: dict[bytes, bytes]) -> Any:
        """Turn a stored RQ result into what the shopper is told (a failure as an error outcome)."""
        restored = Result.restore(job_id, result_id.decode(), fields, connection=self.redis)
        if restored.type == Result.Type.FAILED:
            return {"outcome": "error", "message": FAILED_MESSAGE}
        return restored.return_value

    def pending_jobs(self, cart_id: str) -> list[str]:
        """Return the ids of the cart's requests that are still in line."""
        return sorted(m.decode() for m in self.redis.smembers(cart_pending_key(cart_id)))

    # --- the consumers ------------------------------------------------------------------------

    def next_ready(self, timeout: float) -> str | None:
        """Block until some lane has work (or the timeout passes) and return its name."""
        item = self.redis.blpop([READY_LIST], timeout=timeout)
        return item[1].decode() if item else None

    def acquire(self, lane: str, owner: str, lease_ms: int, floor: int = 0) -> int:
        """Take the lane's lease and a fencing token above ``floor``; 0 if another consumer has it."""
        if self.redis.exists(lane_key(lane, "paused")):
            return 0
        return int(
            self._acquire(
                keys=[lane_key(lane, "lease"), lane_key(lane, "fence")], args=[owner, lease_ms, floor]
            )
        )

    def take(
        self, lane: str, owner: str, limit: int, lease_ms: int
    ) -> list[TakenRequest] | TakeRefused | None:
        """Move the next batch into the in-flight list; None if the lease was lost, LANE_PAUSED if paused."""
        raw = self._take(
            keys=[
                queue_key(lane),
                lane_key(lane, "inflight"),
                lane_key(lane, "lease"),
                lane_key(lane, "paused"),
                LINES_ZSET,
                LINES_TOTAL,
            ],
            args=[owner, limit, lease_ms, utcformat(utcnow()), Job.redis_job_namespace_prefix, lane],
        )
        if raw is None:
            return None
        if raw == -1:
            return LANE_PAUSED
        taken = []
        step = TAKEN_FIELDS + 1
        for index in range(0, len(raw), step):
            job_id, data, ticket, enqueued, ahead, demand, shopper, note = raw[index : index + step]
            job_id = job_id.decode()
            enqueued_at = parse_rq_time(enqueued) if enqueued else None
            through = int(ahead) + int(demand or 0) if ahead else None
            request = _decode_request(job_id, data, ticket, note)
            taken.append(
                TakenRequest(job_id, request, enqueued_at, through, shopper.decode(), int(demand or 0))
            )
        return taken

    def renew(self, lane: str, owner: str, lease_ms: int) -> bool:
        return bool(self._renew(keys=[lane_key(lane, "lease")], args=[owner, lease_ms]))

    def owns(self, lane: str, owner: str) -> bool:
        value = self.redis.get(lane_key(lane, "lease"))
        return value is not None and value.decode() == owner

    def release_if_idle(self, lane: str, owner: str) -> int:
        """1: released (lane empty); 0: more work arrived; -1: the lease was not ours any more."""
        return int(
            self._release(
                keys=[queue_key(lane), lane_key(lane, "inflight"), lane_key(lane, "lease"), READY_SET],
                args=[owner, lane],
            )
        )

    def yield_lane(self, lane: str, owner: str) -> None:
        """Give a busy lane back to the pool so other lanes get a turn on this consumer."""
        self._yield(keys=[lane_key(lane, "lease"), READY_LIST, READY_SET], args=[owner, lane])

    def rescue(self) -> int:
        """Re-announce lanes with work but no lease holder (their consumer died)."""
        return int(self._rescue(keys=[READY_SET, READY_LIST, LANES_SET]))

    def publish(
        self,
        lane: str,
        owner: str,
        taken: Sequence[TakenRequest],
        outcomes: dict[str, OutcomeDict | BaseException],
        lease_ms: int,
        expiries: Iterable[tuple[str, str, dict[str, Any], datetime]] = (),
        seqs: dict[str, int] | None = None,
        stock: tuple[int, int] | None = None,
        shopper_units: dict[str, int] | None = None,
        waitlist_joined: Sequence[tuple[str, int]] = (),
        waitlist_resolved: Sequence[Any] = (),
        finish: bool = True,
    ) -> None:
        """Write every job's result, schedule expiries and advance now-serving: one round trip.

        ``finish=False`` writes only the results and expiries given (a part of a batch whose
        publishing failed as a whole), leaving the in-flight list and now-serving to a later call.

        ``seqs`` gives each applied request's place in its SKU's ledger, kept for its receipt;
        ``stock`` is the SKU's (available, held) after the batch, the snapshot the odds read;
        ``shopper_units`` each touched shopper's units held, ordered or sold (per-customer limit);
        ``waitlist_joined`` (job id, entry id) of requests now waiting for a returned unit, and
        ``waitlist_resolved`` (shop.domain.effects.WaitlistResolution) the waitlisted jobs' final results.
        """
        seqs = seqs or {}
        served_through = max((t.requested_through or 0 for t in taken), default=0)
        pipe = self.redis.pipeline(transaction=False)
        failed = FailedJobRegistry(lane, connection=self.redis)
        ended = utcformat(utcnow())
        max_ticket = 0
        # Finished jobs go to the PUBLISH script: per job only its id, result and pending set, instead
        # of seven commands whose encoding cost more than applying the request (see bench/README.md).
        finished: list[Any] = []
        for item in taken:
            request = item.request
            if request is not None and request.ticket:
                max_ticket = max(max_ticket, request.ticket)
            outcome = outcomes.get(item.job_id)
            if outcome is None:
                continue
            cart_id = request.params.get("cart_id") if request else None
            pending = cart_pending_key(cart_id) if cart_id else ""
            if isinstance(outcome, BaseException):
                # Rare, so RQ's own calls; FailedJobRegistry.add saves the whole job, so load it first.
                try:
                    job = Job.fetch(item.job_id, connection=self.redis)
                except NoSuchJobError:
                    job = Job(item.job_id, connection=self.redis)
                    pipe.zadd(failed.key, {item.job_id: current_timestamp() + self.result_ttl})
                else:
                    job.set_status(JobStatus.FAILED, pipeline=pipe)
                    job.ended_at = utcnow()
                    failed.add(job, self.result_ttl, exc_string=repr(outcome), pipeline=pipe)
                Result.create_failure(job, self.result_ttl, repr(outcome), worker_name=owner, pipeline=pipe)
                if pending:
                    pipe.srem(pending, item.job_id)
            else:
                # Result.serialize's return_value: the default serializer's bytes, base64-encoded.
                seq = seqs.get(item.job_id, "")
                status = JobStatus.DEFERRED if outcome.get("outcome") == WAITLISTED else JobStatus.FINISHED
                finished.extend((item.job_id, b64encode(_serializer.dumps(outcome)), pending, seq, status))
        for resolution in waitlist_resolved:
            value = b64encode(_serializer.dumps(resolution.outcome))
            pending = cart_pending_key(resolution.cart_id)
            finished.extend((resolution.job_id, value, pending, resolution.seq or "", JobStatus.FINISHED))
        # Expiry jobs are rq-scheduler jobs as schedule_job makes them; their shared fields are sent once.
        recorder = _WriteRecorder()
        scheduled = _ScheduledJobs(self.redis, lane)
        for job_id, func, kwargs, when in expiries:
            scheduled.schedule(recorder, job_id, func, kwargs, when)
        if len(pipe):
            pipe.execute()  # failed jobs (rare): RQ's own calls, before the batch's results
        publish_args = [
            Job.redis_job_namespace_prefix,
            Result.get_key(""),
            ended,
            self.result_ttl,
            owner,
            FinishedJobRegistry(lane, connection=self.redis).key,
            current_timestamp() + self.result_ttl,  # the score FinishedJobRegistry.add gives
            len(finished) // 5,
            *finished,
            *recorder.script_args(),
        ]
        # Wake the requests long-polling for these jobs (shop.lanes.decisions), in the same call.
        announce = [decided_channel(lane), max_ticket, 1 if finish else 0]
        finish_args = [
            owner,
            max_ticket,
            lease_ms,
            served_through,
            *(stock if stock else ("", "")),
            *_counted_args(
                [(t.shopper, t.demand) for t in taken if t.shopper and t.demand],
                list((shopper_units or {}).items()),
            ),
            len(waitlist_joined),
            *(x for pair in waitlist_joined for x in pair),
            len(waitlist_resolved),
            *(r.job_id for r in waitlist_resolved),
        ]
        self._publish_batch(
            keys=[
                lane_key(lane, "inflight"),
                lane_key(lane, "serving"),
                lane_key(lane, "lease"),
                lane_key(lane, "ticket"),
                lane_key(lane, "served"),
                lane_key(lane, "requested"),
                lane_key(lane, "stock"),
                lane_key(lane, "shoppers"),
                lane_key(lane, "waitlist"),
            ],
            args=[*publish_args, *announce, *(finish_args if finish else ())],
        )

    # --- operators ----------------------------------------------------------------------------

    def pause(self, lane: str) -> None:
        """Keep accepting requests into the lane but apply none until resumed."""
        self.redis.set(lane_key(lane, "paused"), 1)

    def resume(self, lane: str) -> None:
        """Let the lane be applied again, and announce it so a consumer picks it up at once."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(lane_key(lane, "paused"))
        pipe.sadd(READY_SET, lane)
        pipe.rpush(READY_LIST, lane)
        pipe.execute()

    def is_paused(self, lane: str) -> bool:
        return bool(self.redis.exists(lane_key(lane, "paused")))

    def forget_finished(self, lanes: list[str], now: datetime) -> int:
        """Drop the finished jobs listed past their result TTL from these lanes' registries.

        RQ's workers clean their registries as they go; the lanes' consumer lists each decided job
        in its lane's FinishedJobRegistry (scored by when its result expires, as RQ does), and
        prunes a lane at each batch it publishes. A lane that goes quiet after a sale is pruned here.
        """
        if not lanes:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for lane in lanes:
            pipe.zremrangebyscore(FinishedJobRegistry(lane, connection=self.redis).key, 0, now.timestamp())
        return sum(pipe.execute())

    def hottest(self, count: int) -> list[str]:
        """Return up to ``count`` lanes, most recently active first (decayed arrivals, see LUA_HOT)."""
        if count <= 0:
            return []
        return [m.decode() for m in self.redis.zrevrange(HOT_LANES_ZSET, 0, count - 1)]

    def longest_lines(self, count: int) -> list[str]:
        """Return up to ``count`` lanes with a line, the longest first (ties by lane name, descending)."""
        if count <= 0:
            return []
        return [m.decode() for m in self.redis.zrevrange(LINES_ZSET, 0, count - 1)]

    def release_paused(self, lane: str, owner: str) -> None:
        """Give up a paused lane's lease; resuming announces it again."""
        self._release_paused(keys=[lane_key(lane, "lease"), READY_SET], args=[owner, lane])


def schedule_job(
    pipe: Any, redis: Redis, job_id: str, func: str, kwargs: dict[str, Any], when: datetime, lane: str
) -> None:
    """Schedule a job with rq-scheduler (its job hash and sorted set), inside the caller's pipeline."""
    job = Job.create(
        JOB_FUNC_PREFIX + func,
        kwargs=kwargs,
        connection=redis,
        id=job_id,
        status=JobStatus.SCHEDULED,
        origin=lane,
        description=f"{func} {_describe(kwargs)}",
    )
    job.save(pipeline=pipe)
    # rq-scheduler works in whole seconds: round up, so the job is never moved before it is due.
    pipe.zadd(Scheduler.scheduled_jobs_key, {job.id: math.ceil(when.timestamp())})


def _describe(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if k != "cart_id"}
    return " ".join(f"{k}={v}" for k, v in sorted(shown.items()))


class _ScheduledJobs:
    """Write scheduled jobs as schedule_job does, building one RQ Job per function, not one per job.

    A batch of 200 holds schedules 200 expiries; Job.create and Job.to_dict for each cost more than
    everything else of publishing a hold (issue 21's profile). Jobs of one function and lane differ
    only in their id, their data (the function's arguments) and their description, so each is the
    first one's hash with those three made afresh, the way RQ makes them.
    """

    OWN_FIELDS = ("data", "description")

    def __init__(self, redis: Redis, lane: str) -> None:
        self.redis = redis
        self.lane = lane
        self.templates: dict[str, dict[str, Any]] = {}

    def schedule(self, pipe: Any, job_id: str, func: str, kwargs: dict[str, Any], when: datetime) -> None:
        """Write one job hash and its rq-scheduler entry into ``pipe``."""
        template = self.templates.get(func)
        if template is None:
            schedule_job(pipe, self.redis, job_id, func, kwargs, when, self.lane)
            self.templates[func] = pipe.hashes[Job.redis_job_namespace_prefix + job_id]
            return
        mapping = dict(template)
        # Job.data and Job.to_dict's 'data', for a job made from a function name and keyword arguments.
        mapping["data"] = zlib.compress(_serializer.dumps((JOB_FUNC_PREFIX + func, None, (), kwargs)))
        mapping["description"] = f"{func} {_describe(kwargs)}"
        pipe.hset(Job.redis_job_namespace_prefix + job_id, mapping=mapping)
        pipe.zadd(Scheduler.scheduled_jobs_key, {job_id: math.ceil(when.timestamp())})


_serializer = DefaultSerializer()


class _WriteRecorder:
    """Stands in for a pipeline to collect the job hashes and sorted-set entries schedule_job writes."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, Any]] = {}
        # Keyed by job hash, like ``hashes``: scheduling one job twice (a cart adding to its hold
        # twice in a batch) rewrites its entry, as the real ZADD would, instead of adding one.
        self.entries: dict[str, tuple[str, str, Any]] = {}
        self._last_key = ""

    def hset(self, key: str, mapping: dict[str, Any]) -> None:
        self.hashes.setdefault(key, {}).update(mapping)
        self._last_key = key

    def zadd(self, key: str, mapping: dict[str, Any]) -> None:
        for member, score in mapping.items():
            self.entries[self._last_key] = (key, member, score)

    def script_args(self) -> list[Any]:
        """PUBLISH's expiry arguments: the fields every hash shares, then each job's own."""
        hashes = list(self.hashes.items())
        if [key for key, _ in hashes] != list(self.entries):
            raise RuntimeError("schedule_job wrote something PUBLISH cannot replay")
        shared = set(hashes[0][1].items()) if hashes else set()
        for _key, mapping in hashes[1:]:
            shared &= mapping.items()
        common = {k: v for k, v in hashes[0][1].items() if (k, v) in shared} if hashes else {}
        args: list[Any] = [len(common), *(x for pair in common.items() for x in pair), len(hashes)]
        for (key, mapping), (zset, member, score) in zip(hashes, self.entries.values(), strict=True):
            own = [(k, v) for k, v in mapping.items() if k not in common]
            args.extend((key, zset, member, score, len(own), *(x for pair in own for x in pair)))
        return args


def _counted_args(in_line: list[tuple[str, int]], units: list[tuple[str, int]]) -> list[Any]:
    """FINISH's per-shopper arguments: quantities leaving the line, then units from the database."""
    args: list[Any] = [len(in_line)]
    for shopper, demand in in_line:
        args.extend((shopper, demand))
    args.append(len(units))
    for shopper, count in units:
        args.extend((shopper, count))
    return args


def _stock(available: bytes | str, held: bytes | str) -> tuple[int, int] | None:
    """Read the SKU's stock snapshot as Redis returned it (None if none was written yet)."""
    if available in (b"", "", None) or held in (b"", "", None):
        return None
    return int(available), int(held)


def parse_rq_time(raw: bytes) -> datetime | None:
    """Parse a timestamp as RQ stores it in job hashes (UTC)."""
    text = raw.decode()
    try:
        # RQ writes ISO 8601 with a Z; fromisoformat reads that a fiftieth of the time utcparse takes.
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    try:
        return utcparse(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def _decode_request(job_id: str, data: bytes, ticket: bytes, note: bytes = b"") -> QueuedRequest | None:
    """Turn a stored RQ job into the request it carries; None if the job hash is gone.

    ``note`` is what a script learned after the job was made (its place in a sale's draw), kept
    with the request's parameters so the ledger records it.
    """
    if not data:
        return None
    func_name, _instance, _args, kwargs = _serializer.loads(zlib.decompress(data))
    kind = func_name.rsplit(".", 1)[-1]
    params = dict(kwargs)
    if note:
        params.update(json.loads(note))
    return QueuedRequest(
        request_id=job_id,
        kind=kind,
        params=params,
        ticket=int(ticket) if ticket else None,
    )
