"""Live figures for operators: per-lane counters and histograms in Redis, the board's rows, Prometheus.

Everything is kept in Redis so it is shared by every gunicorn worker and every consumer process:
a consumer adds one batch's figures in one pipeline, and the web tier reads them for the board and
for ``/metrics``. Nothing here reads every lane or every product: the board asks for the rows of
one page (``shop.web.board_paging`` chooses them), and the sampler and ``/metrics`` look at the lanes
the activity ranking keeps (``HOT_LANES_ZSET``), plus totals over all lanes.
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

from shop.domain.catalog import stock_view
from shop.domain.requests import sku_lane
from shop.lanes.keys import (
    APPLY_KEY,
    HOT_LANES_ZSET,
    LANES_SET,
    LINES_TOTAL,
    LINES_ZSET,
    OUTCOMES_TOTAL_KEY,
    RATE_LIMITED_KEY,
    WAIT_KEY,
    lane_key,
    lane_skus,
    queue_key,
)
from shop.lanes.scripts import lua_source
from shop.storage.models import Hold, HoldStatus, Product, utcnow

# Seconds a request waited in line, and spent being applied (its share of the batch).
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
APPLY_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
RATE_WINDOW_S = 10
# Sparklines: five minutes at one sample every ten seconds. Thirty points keep a page of 50 board
# rows, each with its two series, under 100 KB of JSON.
HISTORY_POINTS = 30
SAMPLE_EVERY_S = 10
# A lane that leaves the sampled set keeps its sparkline this long, then the key goes.
HISTORY_TTL_S = 2 * HISTORY_POINTS * SAMPLE_EVERY_S
EXPIRING_WITHIN = timedelta(minutes=1)


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
    # EVAL, not a registered script: redis-py checks a pipeline's registered scripts with an extra
    # SCRIPT EXISTS round trip before every execute, and this pipeline runs once per batch.
    blend = lua_source("blend_rate")
    pipe.eval(blend, 1, lane_key(lane, "stats"), applied / max(elapsed_s, 1e-6), now, applied)
    second_key = lane_key(lane, "per_second")
    pipe.hincrby(second_key, str(now), applied)
    pipe.expire(second_key, RATE_WINDOW_S * 6)
    for outcome, count in Counter(outcomes).items():
        pipe.hincrby(outcomes_key(lane), outcome, count)
        pipe.hincrby(OUTCOMES_TOTAL_KEY, outcome, count)
    waits = list(waits_s)
    for bucket, count in Counter(_bucket(w, WAIT_BUCKETS) for w in waits).items():
        pipe.hincrby(WAIT_KEY, bucket, count)
    pipe.hincrbyfloat(WAIT_KEY, "sum", sum(waits))
    pipe.hincrby(WAIT_KEY, "count", len(waits))
    pipe.hincrby(APPLY_KEY, _bucket(per_request, APPLY_BUCKETS), applied)
    pipe.hincrbyfloat(APPLY_KEY, "sum", elapsed_s)
    pipe.hincrby(APPLY_KEY, "count", applied)
    pipe.execute()


def outcomes_key(lane: str) -> str:
    return lane_key(lane, "outcomes")


def applied_outcomes(redis: Redis, lane: str | None = None) -> dict[str, int]:
    """Return requests applied by outcome, in one lane or (``None``) over all lanes."""
    raw = redis.hgetall(outcomes_key(lane) if lane else OUTCOMES_TOTAL_KEY)
    return {k.decode(): int(v) for k, v in raw.items()}


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


def expiring_soon(
    session: Any, now: datetime, skus: Sequence[str], within: timedelta = EXPIRING_WITHIN
) -> dict[str, int]:
    """Units per SKU, of these SKUs, in holds that expire within the next minute (or are overdue)."""
    if not skus:
        return {}
    rows = session.execute(
        select(Hold.sku, func.sum(Hold.qty))
        .where(Hold.sku.in_(skus), Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= now + within)
        .group_by(Hold.sku)
    )
    return {sku: int(qty) for sku, qty in rows}


def most_expiring(session: Any, now: datetime, count: int, within: timedelta = EXPIRING_WITHIN) -> list[str]:
    """Return up to ``count`` SKUs with units expiring within the next minute, the most units first.

    Read through the (status, expires_at) index: only holds due within the minute are visited.
    """
    units = func.sum(Hold.qty)
    return list(
        session.scalars(
            select(Hold.sku)
            .where(Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= now + within)
            .group_by(Hold.sku)
            .order_by(units.desc(), Hold.sku)
            .limit(count)
        )
    )


def hot_skus(services: Any, count: int) -> list[str]:
    """Return the SKUs of the most active lanes (at most ``count``), hottest first."""
    lanes = services.lanes.hottest(count)
    return lane_skus(lanes)


def board_rows(services: Any, skus: Sequence[str]) -> list[dict[str, Any]]:
    """The board's row for each of these SKUs, in their order: stock, line and consumer figures.

    One query for the products (by primary key), one for their expiring units, one Redis pipeline
    for their lanes: the cost follows the page, not the catalog.
    """
    now = utcnow()
    with services.db.reading() as session:
        found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
        soon = expiring_soon(session, now, list(found))
    products = [found[sku] for sku in skus if sku in found]
    lanes = [sku_lane(p.sku) for p in products]
    live = lanes_overview(services.redis, lanes)
    return [
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
        for product, lane in zip(products, lanes, strict=True)
    ]


def sampled_skus(services: Any, count: int) -> list[str]:
    """The SKUs the sparklines follow: the hottest, then (if fewer) the first others in SKU order.

    These are the first ``count`` rows of the board's default order, so a small shop samples every
    SKU and a big one the SKUs its operators look at.
    """
    hot = hot_skus(services, count)
    if len(hot) >= count:
        return hot
    taken = set(hot)
    with services.db.reading() as session:
        others = session.scalars(select(Product.sku).order_by(Product.sku).limit(count))
        return hot + [sku for sku in others if sku not in taken][: count - len(hot)]


def record_samples(services: Any) -> None:
    """Append one (time, queue length, available) point to each sampled SKU's sparkline."""
    skus = sampled_skus(services, services.config.HOT_LANES)
    if not skus:
        return
    with services.db.reading() as session:
        stock = session.execute(
            select(Product.sku, Product.on_hand - Product.reserved - Product.allocated).where(
                Product.sku.in_(skus)
            )
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
        pipe.expire(key, HISTORY_TTL_S)
    pipe.execute()


class ShopCollector:
    """A Prometheus collector that reads the shared figures from Redis at scrape time.

    Per-lane series only for the ``lanes`` most active lanes (a shop with 100,000 SKUs would
    otherwise export a series per SKU per outcome), and totals over every lane beside them.
    """

    def __init__(self, redis: Redis, lanes: int) -> None:
        self.redis = redis
        self.lanes = lanes

    def collect(self) -> Iterable[Any]:
        lanes = sorted(m.decode() for m in self.redis.zrevrange(HOT_LANES_ZSET, 0, self.lanes - 1))
        pipe = self.redis.pipeline(transaction=False)
        for lane in lanes:
            pipe.llen(queue_key(lane))
            pipe.hgetall(outcomes_key(lane))
        pipe.get(LINES_TOTAL)
        pipe.zcard(LINES_ZSET)
        pipe.scard(LANES_SET)
        pipe.hgetall(OUTCOMES_TOTAL_KEY)
        pipe.get(RATE_LIMITED_KEY)
        pipe.hgetall(WAIT_KEY)
        pipe.hgetall(APPLY_KEY)
        raw = pipe.execute()
        per_lane, totals = raw[: 2 * len(lanes)], raw[2 * len(lanes) :]
        in_line, waiting_lanes, known_lanes, outcomes, limited, waits, applies = totals

        depth = GaugeMetricFamily(
            "shop_queue_depth", "Requests waiting in a lane (the most active lanes)", labels=["lane"]
        )
        applied = CounterMetricFamily(
            "shop_requests_applied",
            "Queued requests applied, by lane (the most active lanes) and outcome",
            labels=["lane", "outcome"],
        )
        for index, lane in enumerate(lanes):
            length, counts = per_lane[2 * index], per_lane[2 * index + 1]
            depth.add_metric([lane], int(length))
            for outcome, count in sorted(counts.items()):
                applied.add_metric([lane, outcome.decode()], int(count))
        yield depth
        yield applied

        yield GaugeMetricFamily(
            "shop_queue_depth_all_lanes",
            "Requests waiting, all lanes together",
            value=max(0, int(in_line or 0)),
        )
        yield GaugeMetricFamily(
            "shop_lanes_with_a_line", "Lanes with requests waiting", value=int(waiting_lanes)
        )
        yield GaugeMetricFamily("shop_lanes", "Lanes that have ever had a request", value=int(known_lanes))
        all_applied = CounterMetricFamily(
            "shop_requests_applied_all_lanes",
            "Queued requests applied, all lanes together, by outcome",
            labels=["outcome"],
        )
        for outcome, count in sorted(outcomes.items()):
            all_applied.add_metric([outcome.decode()], int(count))
        yield all_applied

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
