"""The door: putting a request in its lane, and reading its job back, for the web tier and the scheduler.

Admitting is one Redis round trip (scripts/admit.lua): check the product cache, take a ticket, store
the RQ job hash, push its id onto the lane's RQ queue and mark the lane ready, so ticket order and
queue order are the same order. A refusal comes back as one of the exceptions below, which
shop.lanes.admission turns into the shop's errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rq import Queue
from rq.job import Job, JobStatus

from shop.domain.errors import OverCustomerLimit, OverLimit, UnknownProduct, UnknownUnit
from shop.domain.odds import estimate_wait, line_odds, prequeue_odds
from shop.domain.requests import SKU_LANE_PREFIX, sku_lane
from shop.lanes import keys
from shop.lanes.job_hashes import flat_fields, parse_rq_time, queued_job, restore_result
from shop.lanes.keys import lane_key, lane_key_tail
from shop.lanes.sales import Sales
from shop.lanes.scripts import HOT_EPOCH_S, HOT_HALF_LIFE_S
from shop.lanes.views import RECEIPT_FIELDS, Admission, JobState, Receipt, stock_snapshot
from shop.storage.models import utcnow

# The lane keys view.lua reads, in the order of its ARGV (after the job id and the two prefixes).
VIEW_TAILS = tuple(
    lane_key_tail(part)
    for part in ("serving", "served", "stock", "stats", "paused", "waitlist", "prequeue:demand")
)


@dataclass(frozen=True)
class Ask:
    """What the admit script checks a request against before it takes a ticket (empty: nothing)."""

    cart_id: str = ""
    sku: str = ""
    qty: int = 0
    # The quantity the request asks for, counted into the lane's requested total.
    demand: int = 0
    shopper: str = ""
    uom: str = ""


class Door(Sales):
    """The lanes as the web tier and the scheduler use them: admit, then read the job."""

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
        job = queued_job(self.redis, kind, params, lane, self.result_ttl, job_id=job_id)
        return self._push(job, lane, Ask(cart_id, sku, qty, demand, shopper, uom), hot=True)

    def push_existing(self, job: Job, lane: str) -> Admission:
        """Put an already created job (one rq-scheduler made) in line behind everyone else.

        Scheduled expiries and sweeps are the shop's own housekeeping, not demand: they leave the
        lane's activity score alone.
        """
        return self._push(job, lane, Ask())

    def _push(self, job: Job, lane: str, ask: Ask, hot: bool = False) -> Admission:
        job.origin = lane
        job.enqueued_at = utcnow()
        job._status = JobStatus.QUEUED
        mapping = job.to_dict()
        if ask.cart_id:
            mapping["shop_cart"] = ask.cart_id
        script_keys = _admit_keys(lane, job.key, ask.cart_id)
        args = [
            lane,
            job.id,
            ask.sku,
            ask.qty,
            ask.cart_id,
            ask.demand,
            ask.shopper,
            len(mapping),
            ask.uom,
            self.hot_lanes if hot else 0,
            HOT_HALF_LIFE_S,
            HOT_EPOCH_S,
            *flat_fields(mapping),
        ]
        raw = self.scripts.admit(keys=script_keys, args=args)
        if int(raw[0]) == -5:
            # The sale has started but its pre-queue is not drawn yet: draw it, then join behind it
            # (once: the draw has happened by then, whoever made it).
            self.open_sale(lane, int(raw[1]))
            raw = self.scripts.admit(keys=script_keys, args=args)
        return _admitted(job.id, lane, ask, raw)

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
        lane = sku_lane(sku)
        upcoming = bool(sale_starts_at and sale_starts_at > utcnow())
        pipe = self.redis.pipeline(transaction=False)
        units = ",".join(f"{uom}={conversion}" for uom, conversion in uoms)
        facts = f"{max_per_cart}|{max_per_customer or 0}|{start_ms}|{base_uom}"
        if units:
            facts += f"|{units}"
        pipe.hset(keys.CATALOG_HASH, sku, facts)
        if upcoming:
            # The scheduler opens the sale at its start even if nobody arrives after it.
            pipe.zadd(keys.SALES_ZSET, {lane: start_ms})
        else:
            pipe.zrem(keys.SALES_ZSET, lane)
        pipe.llen(lane_key(lane, "prequeue"))
        if stock is not None:
            stock_key = lane_key(lane, "stock")
            pipe.hsetnx(stock_key, "available", stock[0])
            pipe.hsetnx(stock_key, "held", stock[1])
        prequeued = pipe.execute()[2]
        if prequeued and not upcoming:
            # The start was moved to now or cleared while shoppers wait in the pre-queue: draw it now.
            self.open_sale(lane, start_ms, force=True)

    def view(self, job_id: str) -> JobState | None:
        """Read a job's status, position and result in one round trip (None if Redis forgot it)."""
        raw = self.scripts.view(
            keys=[Job.key_for(job_id), keys.RESULTS_KEY_PREFIX + job_id, keys.CATALOG_HASH],
            args=[job_id, SKU_LANE_PREFIX, keys.LANE_KEY_PREFIX, *VIEW_TAILS],
        )
        if not raw:
            return None
        status, ticket, lane, cart, serving, result_rows, rate, ahead, demand, served = raw[:10]
        available, held, paused, rank, starts_in, prequeued = raw[10:]
        result = None
        if result_rows:
            result_id, payload = result_rows[0]
            fields = dict(zip(payload[::2], payload[1::2], strict=True))
            result = restore_result(self.redis, job_id, result_id, fields)
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
            stock=stock_snapshot(available, held),
            paused=bool(paused),
            waitlist_rank=int(rank) if int(rank) >= 0 else None,
            starts_in_ms=int(starts_in) if starts_in not in (b"", "") else None,
            prequeue_demand=int(prequeued or 0),
        )

    def receipt(self, job_id: str) -> Receipt | None:
        """Read what a request's receipt says, in one round trip (None if Redis forgot the job)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(Job.key_for(job_id), RECEIPT_FIELDS)
        pipe.xrevrange(keys.RESULTS_KEY_PREFIX + job_id, "+", "-", count=1)
        (fields, result_rows) = pipe.execute()
        status, cart, lane, ticket, joined, enqueued, ended, seq = (
            value.decode() if value is not None else None for value in fields
        )
        if status is None:
            return None
        result = None
        if result_rows:
            result_id, payload = result_rows[0]
            result = restore_result(self.redis, job_id, result_id, payload)
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

    def pending_jobs(self, cart_id: str) -> list[str]:
        """Return the ids of the cart's requests that are still in line."""
        return sorted(m.decode() for m in self.redis.smembers(keys.cart_pending_key(cart_id)))


def _admit_keys(lane: str, job_key: str, cart_id: str) -> list[str]:
    """KEYS of admit.lua, in its order."""
    return [
        keys.queue_key(lane),
        job_key,
        lane_key(lane, "ticket"),
        lane_key(lane, "serving"),
        keys.READY_LIST,
        keys.READY_SET,
        keys.QUEUES_SET,
        keys.LANES_SET,
        keys.CATALOG_HASH,
        keys.cart_pending_key(cart_id) if cart_id else lane_key(lane, "nocart"),
        lane_key(lane, "requested"),
        lane_key(lane, "served"),
        lane_key(lane, "stock"),
        lane_key(lane, "stats"),
        lane_key(lane, "paused"),
        lane_key(lane, "shoppers"),
        lane_key(lane, "sale"),
        lane_key(lane, "prequeue"),
        lane_key(lane, "prequeue:demand"),
        keys.HOT_LANES_ZSET,
        keys.LINES_ZSET,
        keys.LINES_TOTAL,
    ]


def _admitted(job_id: str, lane: str, ask: Ask, raw: list[Any]) -> Admission:
    """Read admit.lua's answer: the request's place in line or the pre-queue, or its refusal."""
    ticket, serving = int(raw[0]), int(raw[1])
    if ticket == -4:
        _code, starts_in, _length, prequeue_demand, available, held = raw
        odds = prequeue_odds(stock_snapshot(available, held), int(prequeue_demand or 0))
        return Admission(job_id, lane, None, None, odds, None, starts_in_ms=int(starts_in))
    if ticket == -1:
        raise UnknownProduct(ask.sku)
    if ticket == -6:
        raise UnknownUnit(ask.sku, ask.uom)
    if ticket == -2:
        raise OverLimit(serving)
    if ticket == -3:
        raise OverCustomerLimit(serving, int(raw[2]))
    _ticket, _serving, before, served, available, held, rate, paused = raw
    position = max(0, ticket - serving - 1)
    odds = None
    if lane.startswith(SKU_LANE_PREFIX):
        odds = line_odds(stock_snapshot(available, held), int(before), int(served), ask.demand)
    eta = None if paused else estimate_wait(position, float(rate) if rate else None)
    return Admission(job_id, lane, ticket, position, odds, eta)


class LaneQueue(Queue):
    """An RQ queue whose enqueue goes through the lane's ticket script.

    rq-scheduler moves due jobs (hold expiries, the sweeper) into queues with ``enqueue_job``; using
    this class there keeps those jobs in ticket order with the shoppers' requests.
    """

    def enqueue_job(
        self, job: Job, pipeline: Any = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        Door(self.connection).push_existing(job, self.name)
        return job
