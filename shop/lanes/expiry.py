"""Expiry: what makes held and ordered units come back, even if Redis lost its schedule.

Each hold and order gets a job scheduled with rq-scheduler at its deadline. The sweeper, a periodic
job with a stable id, finds anything overdue in the database and puts its expiry in line again; the
expiry itself is a conditional update, so running it twice or after checkout changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from redis import Redis

from shop.domain.effects import Expiry, hold_expiry, order_expiry, waitlist_expiry
from shop.domain.orders import paid_unallocated
from shop.domain.overdue import overdue_holds, overdue_orders, overdue_waitlist
from shop.domain.pricing import end_flash_prices
from shop.domain.requests import RequestKind, all_checkout_lanes, checkout_lane, sku_lane
from shop.lanes.client import Lanes
from shop.lanes.keys import SWEPT_MARK_PREFIX
from shop.storage.db import Database
from shop.storage.models import utcnow

MAINTENANCE_LANE = "maintenance"
SWEEPER_JOB_ID = "shop-sweeper"
# A swept item is not put in line again for this long, so a long line is not flooded with repeats.
SWEEP_MARK_SECONDS = 30


def sweep(db: Database, lanes: Lanes, checkout_lanes: int, now: datetime | None = None) -> dict[str, int]:
    """Put the expiry of every overdue hold, unpaid order and waitlist entry in its lane; return counts.

    It also ends the flash prices whose sale is over (``end_flash_prices``).
    """
    now = now or utcnow()
    with db.writing() as session, session.begin():
        flash_prices = end_flash_prices(session, now)
    with db.reading() as session:
        holds = overdue_holds(session, now)
        orders = overdue_orders(session, now)
        waiting = overdue_waitlist(session, now)
        paid = paid_unallocated(session)
    # Swept expiries get ids of their own: the scheduled job's id may already hold a "not due" outcome.
    stamp = int(now.timestamp())
    queued_holds = sum(
        _requeue(lanes, f"hold:{hold_id}", sku_lane(sku), hold_expiry(hold_id, sku, now), stamp)
        for hold_id, sku in holds
    )
    queued_orders = sum(
        _requeue(
            lanes,
            f"order:{order_id}",
            checkout_lane(cart_id, checkout_lanes),
            order_expiry(order_id, cart_id, now),
            stamp,
        )
        for order_id, cart_id in orders
    )
    queued_waitlist = sum(
        _requeue(lanes, f"waitlist:{request_id}", sku_lane(sku), waitlist_expiry(request_id, sku, now), stamp)
        for request_id, sku in waiting
    )
    # Paid units whose allocation request was lost (Redis restarted between payment and enqueue).
    queued_allocations = 0
    for order_id, sku in paid:
        if _mark(lanes.redis, f"allocate:{order_id}:{sku}"):
            params = {"sku": sku, "order_id": order_id}
            lanes.admit(
                sku_lane(sku), RequestKind.ALLOCATE, params, job_id=f"swept-allocate-{order_id}-{sku}-{stamp}"
            )
            queued_allocations += 1
    return {
        "holds": queued_holds,
        "orders": queued_orders,
        "waitlist": queued_waitlist,
        "allocations": queued_allocations,
        "flash_prices": flash_prices,
        "finished_forgotten": lanes.forget_finished(_lanes_to_prune(lanes, checkout_lanes), now),
    }


def _lanes_to_prune(lanes: Lanes, checkout_lanes: int) -> list[str]:
    """The lanes whose finished jobs the sweep forgets: the recently active SKUs, every checkout lane."""
    return lanes.hottest(lanes.hot_lanes) + all_checkout_lanes(checkout_lanes)


def _requeue(lanes: Lanes, mark: str, lane: str, expiry: Expiry, stamp: int) -> int:
    """Put one overdue expiry back in its lane under a swept id, unless a recent sweep already did."""
    if not _mark(lanes.redis, mark):
        return 0
    job_id, kind, params, _when = expiry
    lanes.admit(lane, kind, params, job_id=f"swept-{job_id}-{stamp}")
    return 1


def _mark(redis: Redis, item: str) -> bool:
    return bool(redis.set(SWEPT_MARK_PREFIX + item, 1, nx=True, ex=SWEEP_MARK_SECONDS))
