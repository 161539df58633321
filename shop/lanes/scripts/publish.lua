-- Publish a batch: every job's result, the batch's expiry jobs, the long-poll announcement, then
-- (unless only part of a batch is published) finish it: clear the in-flight list and advance
-- now-serving to the last applied ticket (shop.lanes.publish.Publisher.publish). One call per batch:
-- a pipeline of three scripts cost a SCRIPT EXISTS round trip per batch (redis-py checks a
-- pipeline's scripts before every execute).
--
-- The job hashes, results and registry entries written here are RQ's own formats: what rq's
-- Job.fetch, Result and FinishedJobRegistry read (tests/test_job_hash_contract.py).
--
-- KEYS: 1 inflight, 2 serving, 3 lease, 4 ticket, 5 served, 6 requested, 7 stock, 8 shoppers,
--   9 waitlist.
-- ARGV, in runs, each read from the index `i` the previous one ended at:
--   results: job-hash prefix, results prefix, ended_at, ttl, owner, the FinishedJobRegistry key, its
--     score, n, then n times (job id, encoded result, the cart's pending set or '', ledger seq or '',
--     status);
--   expiries: n shared fields and values, n jobs, then per job (hash key, zset, member, score,
--     n own fields, own fields and values);
--   announcement: channel, max ticket, '1' to finish;
--   finish (only with '1'): owner, max ticket, lease ms, served through, available, held, the
--     shoppers' quantities leaving the line (n, shopper, qty...), their units from the database
--     (n, shopper, units...), waitlist entries joined (n, job id, entry id...), resolved (n, job id...).

-- FINISH, its arguments from ARGV[o + 1]. Returns 0 if the lease is not the owner's any more.
local function finish(o)
  if redis.call('GET', KEYS[3]) ~= ARGV[o + 1] then return 0 end
  redis.call('DEL', KEYS[1])
  local ticket = tonumber(ARGV[o + 2])
  local issued = tonumber(redis.call('GET', KEYS[4]) or '0')
  local serving = tonumber(redis.call('GET', KEYS[2]) or '0')
  if ticket > serving and ticket <= issued then redis.call('SET', KEYS[2], ticket) end
  -- The quantity served advances with now-serving: to the cumulative quantity of the last applied.
  local upto = tonumber(ARGV[o + 4])
  local requested = tonumber(redis.call('GET', KEYS[6]) or '0')
  if upto > tonumber(redis.call('GET', KEYS[5]) or '0') and upto <= requested then
    redis.call('SET', KEYS[5], upto)
  end
  if ARGV[o + 5] ~= '' then redis.call('HSET', KEYS[7], 'available', ARGV[o + 5], 'held', ARGV[o + 6]) end
  -- Shoppers' units in line leave the line; their units held, ordered or sold are the database's.
  local i = o + 8
  for _ = 1, tonumber(ARGV[o + 7]) do
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
  redis.call('PEXPIRE', KEYS[3], ARGV[o + 3])
  return 1
end

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
-- Wake the requests long-polling for these jobs (shop.lanes.decisions).
redis.call('PUBLISH', ARGV[i + 1], ARGV[i + 2])
if ARGV[i + 3] == '1' then return finish(i + 3) end
return 1
