"""Live figures for operators: per-lane counters and histograms in Redis, the sale board, Prometheus.

Everything is kept in Redis so it is shared by every gunicorn worker and every consumer process:
a consumer adds one batch's figures in one pipeline, and the web tier reads them for the board and
for ``/metrics``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis import Redis
from sqlalchemy import func, select

from shop.catalog import stock_view
from shop.models import Hold, HoldStatus, Product, utcnow
from shop.queueing import LANES_SET, lane_key, queue_key

OUTCOMES_KEY = "shop:metrics:outcomes"
RATE_LIMITED_KEY = "shop:metrics:rate_limited"
WAIT_KEY = "shop:metrics:wait_seconds"
APPLY_KEY = "shop:metrics:apply_seconds"
# Seconds a request waited in line, and spent being applied (its share of the batch).
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
APPLY_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
RATE_WINDOW_S = 10
HISTORY_POINTS = 60  # sparkline length: five minutes at one sample every five seconds
SAMPLE_EVERY_S = 5

# Blend the batch's rate into the lane's moving average inside Redis: one round trip, no race.
_BLEND = """
local rate = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'rate') or '')
if current then rate = 0.8 * current + 0.2 * rate end
redis.call('HSET', KEYS[1], 'rate', string.format('%.2f', rate), 'updated_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'applied', ARGV[3])
return 1
"""


def _bucket(value: float, bounds: Sequence[float]) -> str:
    for bound in bounds:
        if value <= bound:
            return str(bound)
    return "+Inf"


def record_batch(
    redis: Redis,
    lane: str,
    outcomes: Iterable[str],
    waits_s: Iterable[float],
    applied: int,
    elapsed_s: float,
) -> None:
    """Add one applied batch to the lane's rate, the outcome counters and the histograms."""
    if applied <= 0:
        return
    now = int(time.time())
    per_request = elapsed_s / applied
    pipe = redis.pipeline(transaction=False)
    pipe.eval(_BLEND, 1, lane_key(lane, "stats"), applied / max(elapsed_s, 1e-6), now, applied)
    second_key = lane_key(lane, "per_second")
    pipe.hincrby(second_key, str(now), applied)
    pipe.expire(second_key, RATE_WINDOW_S * 6)
    for outcome, count in Counter(outcomes).items():
        pipe.hincrby(OUTCOMES_KEY, f"{lane}|{outcome}", count)
    waits = list(waits_s)
    for bucket, count in Counter(_bucket(w, WAIT_BUCKETS) for w in waits).items():
        pipe.hincrby(WAIT_KEY, bucket, count)
    pipe.hincrbyfloat(WAIT_KEY, "sum", sum(waits))
    pipe.hincrby(WAIT_KEY, "count", len(waits))
    pipe.hincrby(APPLY_KEY, _bucket(per_request, APPLY_BUCKETS), applied)
    pipe.hincrbyfloat(APPLY_KEY, "sum", elapsed_s)
    pipe.hincrby(APPLY_KEY, "count", applied)
    pipe.execute()


def count_rate_limited(redis: Redis) -> None:
    """Count a 429; never let counting fail the response."""
    try:
        redis.incr(RATE_LIMITED_KEY)
    except Exception:  # a metrics counter must not turn a 429 into a 500
        pass


def lanes_overview(redis: Redis, lanes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Read every lane's live figures in one pipeline."""
    now = int(time.time())
    pipe = redis.pipeline(transaction=False)
    for lane in lanes:
        pipe.llen(queue_key(lane))
        pipe.get(lane_key(lane, "ticket"))
        pipe.get(lane_key(lane, "serving"))
        pipe.get(lane_key(lane, "lease"))
        pipe.exists(lane_key(lane, "paused"))
        pipe.hmget(lane_key(lane, "per_second"), [str(now - i) for i in range(RATE_WINDOW_S)])
        pipe.lrange(lane_key(lane, "history"), 0, HISTORY_POINTS - 1)
    raw = pipe.execute()
    figures: dict[str, dict[str, Any]] = {}
    for index, lane in enumerate(lanes):
        length, ticket, serving, lease, paused, seconds, history = raw[index * 7 : index * 7 + 7]
        figures[lane] = {
            "queue_length": int(length),
            "last_ticket": int(ticket or 0),
            "now_serving": int(serving or 0),
            "lease_holder": lease.decode() if lease else None,
            "paused": bool(paused),
            "applied_per_second": round(sum(int(s) for s in seconds if s) / RATE_WINDOW_S, 1),
            "history": [_parse_sample(point) for point in reversed(history)],
        }
    return figures


def _parse_sample(raw: bytes) -> dict[str, int]:
    at, queue, available = raw.decode().split(",")
    return {"at": int(at), "queue": int(queue), "available": int(available)}


def expiring_soon(session: Any, now: datetime, within: timedelta = timedelta(minutes=1)) -> dict[str, int]:
    """Units per SKU in holds that expire within the next minute."""
    rows = session.execute(
        select(Hold.sku, func.sum(Hold.qty))
        .where(Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= now + within)
        .group_by(Hold.sku)
    )
    return {sku: int(qty) for sku, qty in rows}


def sale_board(services: Any) -> list[dict[str, Any]]:
    """One row per SKU with stock, line and consumer figures, hottest first."""
    from shop.inventory import sku_lane

    now = utcnow()
    with services.db.reading() as session:
        products = session.scalars(select(Product)).all()
        soon = expiring_soon(session, now)
    lanes = [sku_lane(p.sku) for p in products]
    live = lanes_overview(services.redis, lanes)
    rows = []
    for product, lane in zip(products, lanes, strict=True):
        rows.append(
            {
                "sku": product.sku,
                "name": product.name,
                "on_hand": product.on_hand,
                "reserved": product.reserved,
                "allocated": product.allocated,
                "available": product.available,
                "locations": stock_view(product),
                "sales": product.sales,
                "expiring_next_minute": soon.get(product.sku, 0),
                **live[lane],
            }
        )
    rows.sort(key=lambda r: (-r["queue_length"], -r["applied_per_second"], -r["reserved"], -r["sales"]))
    return rows


def record_samples(services: Any) -> None:
    """Append one (time, queue length, available) point per SKU, for the board's sparklines."""
    from shop.inventory import sku_lane

    with services.db.reading() as session:
        stock = session.execute(
            select(Product.sku, Product.on_hand - Product.reserved - Product.allocated)
        ).all()
    now = int(time.time())
    lengths_pipe = services.redis.pipeline(transaction=False)
    for sku, _available in stock:
        lengths_pipe.llen(queue_key(sku_lane(sku)))
    lengths = lengths_pipe.execute()
    pipe = services.redis.pipeline(transaction=False)
    for (sku, available), length in zip(stock, lengths, strict=True):
        key = lane_key(sku_lane(sku), "history")
        pipe.lpush(key, f"{now},{length},{available}")
        pipe.ltrim(key, 0, HISTORY_POINTS - 1)
    pipe.execute()


class ShopCollector:
    """A Prometheus collector that reads the shared figures from Redis at scrape time."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def collect(self) -> Iterable[Any]:
        lanes = sorted(m.decode() for m in self.redis.smembers(LANES_SET))
        pipe = self.redis.pipeline(transaction=False)
        for lane in lanes:
            pipe.llen(queue_key(lane))
        pipe.hgetall(OUTCOMES_KEY)
        pipe.get(RATE_LIMITED_KEY)
        pipe.hgetall(WAIT_KEY)
        pipe.hgetall(APPLY_KEY)
        raw = pipe.execute()
        depths, (outcomes, limited, waits, applies) = raw[: len(lanes)], raw[len(lanes) :]

        depth = GaugeMetricFamily("shop_queue_depth", "Requests waiting in a lane", labels=["lane"])
        for lane, length in zip(lanes, depths, strict=True):
            depth.add_metric([lane], int(length))
        yield depth

        applied = CounterMetricFamily(
            "shop_requests_applied",
            "Queued requests applied, by lane and outcome",
            labels=["lane", "outcome"],
        )
        for field, count in sorted(outcomes.items()):
            lane, outcome = field.decode().rsplit("|", 1)
            applied.add_metric([lane, outcome], int(count))
        yield applied

        yield CounterMetricFamily("shop_rate_limited", "Requests refused with 429", value=int(limited or 0))
        yield _histogram("shop_job_wait_seconds", "Time a request waited in line", waits, WAIT_BUCKETS)
        yield _histogram("shop_job_apply_seconds", "Time spent applying a request", applies, APPLY_BUCKETS)


def _histogram(
    name: str, doc: str, raw: dict[bytes, bytes], bounds: Sequence[float]
) -> HistogramMetricFamily:
    counts = {k.decode(): v.decode() for k, v in raw.items()}
    cumulative = 0
    buckets = []
    for bound in [*map(str, bounds), "+Inf"]:
        cumulative += int(counts.get(bound, 0))
        buckets.append((bound, cumulative))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=float(counts.get("sum", 0)))
