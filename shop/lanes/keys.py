"""The lanes' Redis key layout, defined once: Python builds every key here and hands it to the scripts.

A lane is a real RQ queue, so RQ's own keys (``rq:queue:<lane>``, ``rq:job:<id>``, ``rq:results:<id>``)
come from RQ's classes; the shop's keys all start with ``shop:``. The Lua scripts in
``shop/lanes/scripts/`` spell none of these: each gets its keys in KEYS, or (a script that visits lanes it
only learns while running) the prefix and tails in ARGV, from the functions below.

=====================================  ====================================================================
key                                    holds
=====================================  ====================================================================
``rq:queue:<lane>``                    the lane's line: job ids in ticket order (RQ's queue list)
``rq:queues``                          every lane's RQ queue key (RQ's set, read by rq-dashboard)
``rq:job:<id>`` / ``rq:results:<id>``  each request's RQ job hash, and its results stream
``shop:lane:<lane>:<part>``            the lane's counters, lease, fence, in-flight list, pause flag…
``shop:ready`` / ``shop:ready:set``    lanes with work for a consumer (the list blocked on, its set)
``shop:lanes``                         every lane that ever had a request
``shop:lanes:hot``                     lanes by decayed recent activity (the board's "hottest")
``shop:lanes:lines[:total]``           lanes with a line, by its length, and the sum of those lengths
``shop:catalog:max_per_cart``          sku -> the product's admission facts (limits, sale start, units)
``shop:sales``                         lane -> sale start in ms, for sales the scheduler must open
``shop:cart:<cart>:pending``           the cart's requests still in line
``shop:decided:<lane>``                the channel a lane's consumer announces published batches on
``shop:metrics:*``                     the operators' counters and histograms (shop.lanes.metrics)
=====================================  ====================================================================
"""

from __future__ import annotations

from collections.abc import Iterable

from rq import Queue
from rq.job import Job
from rq.results import Result

from shop.domain.requests import lane_sku

# --- RQ's keys, as RQ spells them -----------------------------------------------------------------
QUEUE_KEY_PREFIX = Queue.redis_queue_namespace_prefix
QUEUES_SET = Queue.redis_queues_keys
JOB_KEY_PREFIX = Job.redis_job_namespace_prefix
RESULTS_KEY_PREFIX = Result.get_key("")
# Job hashes name their function by dotted path: workers/jobs.py has one function per request kind.
JOB_FUNC_PREFIX = "workers.jobs."

# --- the shop's keys ------------------------------------------------------------------------------
LANE_KEY_PREFIX = "shop:lane:"
READY_LIST = "shop:ready"
READY_SET = "shop:ready:set"
LANES_SET = "shop:lanes"
# Lanes by recent activity (see scripts/hot.lua): a sorted set of at most HOT_LANES members.
HOT_LANES_ZSET = "shop:lanes:hot"
# Lanes with a line, scored by its length, and the sum of those lengths (see scripts/lines.lua).
LINES_ZSET = "shop:lanes:lines"
LINES_TOTAL = "shop:lanes:lines:total"
CATALOG_HASH = "shop:catalog:max_per_cart"
# Sale starts waiting to be opened by the scheduler: lane -> sale_starts_at in ms.
SALES_ZSET = "shop:sales"
# lane -> the version of the pause that Redis's flag reflects (shop.lanes.pausing).
PAUSE_VERSIONS = "shop:lane:pause-versions"
DECIDED_CHANNEL_PREFIX = "shop:decided:"
# A cart's Idempotency-Key claim (shop:idem:cart:<sha256(cart:key)> -> fingerprint of the request).
IDEMPOTENCY_CLAIM_PREFIX = "shop:idem:cart:"
SWEPT_MARK_PREFIX = "shop:swept:"
# Applied requests by outcome over all lanes; each lane's own are in lane_key(lane, "outcomes").
OUTCOMES_TOTAL_KEY = "shop:metrics:outcomes:all_lanes"
RATE_LIMITED_KEY = "shop:metrics:rate_limited"
WAIT_KEY = "shop:metrics:wait_seconds"
APPLY_KEY = "shop:metrics:apply_seconds"


def lane_key_tail(part: str) -> str:
    """What follows the lane's name in its ``part`` key; scripts that visit lanes append it."""
    return f":{part}"


def lane_key(lane: str, part: str) -> str:
    """Name one of a lane's own keys: ``ticket``, ``serving``, ``lease``, ``inflight``, ``paused``…"""
    return LANE_KEY_PREFIX + lane + lane_key_tail(part)


def queue_key(lane: str) -> str:
    """Name the lane's RQ queue list (its line)."""
    return QUEUE_KEY_PREFIX + lane


def cart_pending_key(cart_id: str) -> str:
    """Name the set of the cart's requests still in line."""
    return f"shop:cart:{cart_id}:pending"


def decided_channel(lane: str) -> str:
    """The channel a lane's consumer publishes on when it has published a batch's results."""
    return DECIDED_CHANNEL_PREFIX + lane


def job_func(kind: str) -> str:
    """The dotted path of the RQ job function of a request kind (workers/jobs.py)."""
    return JOB_FUNC_PREFIX + kind


def job_kind(func_name: str) -> str:
    """The request kind a job's function names (the inverse of ``job_func``)."""
    return func_name.rsplit(".", 1)[-1]


def lane_skus(lanes: Iterable[str]) -> list[str]:
    """The SKUs of those lanes that are SKU lanes (not checkout or maintenance), in their order."""
    return [sku for sku in map(lane_sku, lanes) if sku is not None]
