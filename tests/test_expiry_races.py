"""A hold's expiry racing its cart's checkout, concurrently: the database settles it one way, once."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import select

from shop.storage.models import AppliedRequest, Hold, HoldStatus, Order, Product, utcnow
from tests.helpers import assert_audit_clean, finished_job, wait_until
from tests.http_server import call, serve

SKU = "RACE-1"
CARTS = 40
HOLD_TTL_S = 2
# Each checkout is sent this far around its hold's expiry (seconds): before it, at it, after it,
# while the scheduled expiry, the sweeper and the SKU lane's batch-start expiry all reach the hold.
CHECKOUT_OFFSETS_S = (-1.0, 0.6)
STAGGER_S = 0.05  # carts start one after another, so the SKU lane has batches during the expiries


def _cart(host: str, index: int, start: threading.Event) -> tuple[dict, dict]:
    """Hold one unit, then check out around the hold's expiry; return (held, checkout) results."""
    rng = random.Random(index)
    start.wait()
    time.sleep(index * STAGGER_S)
    status, headers, body = call(host, "POST", "/chart", {"sku": SKU, "qty": 1})
    assert status == 202, body
    token = {"X-Cart-Token": headers["X-Cart-Token"]}
    held = finished_job(host, body["job_id"], token)["result"]
    assert held["outcome"] == "held", held
    expires_at = datetime.fromisoformat(held["expires_at"])
    send_at = expires_at.timestamp() + rng.uniform(*CHECKOUT_OFFSETS_S)
    time.sleep(max(0.0, send_at - utcnow().timestamp()))
    status, _headers, body = call(host, "POST", "/checkout", headers={**token, "Idempotency-Key": "race"})
    assert status == 202, body
    return held, finished_job(host, body["job_id"], token)["result"]


def _expiries_by_hold(services) -> dict[int, int]:
    """How many ledger entries expired each hold (scheduled, swept or freed at a batch's start)."""
    counts: dict[int, int] = {}
    with services.db.reading() as session:
        for row in session.scalars(select(AppliedRequest).where(AppliedRequest.sku == SKU)):
            outcome = json.loads(row.outcome)
            if outcome.get("outcome") == "expired":
                counts[int(outcome["hold_id"])] = counts.get(int(outcome["hold_id"]), 0) + 1
    return counts


def _no_active_hold_left(services) -> bool:
    with services.db.reading() as session:
        return (
            session.scalar(select(Hold.id).where(Hold.sku == SKU, Hold.status == HoldStatus.ACTIVE)) is None
        )


def test_a_checkout_racing_its_holds_expiry_either_orders_the_hold_or_finds_it_expired_never_both(
    config, app, services, make_product, spawn
):
    config.HOLD_TTL_SECONDS = HOLD_TTL_S
    make_product(SKU, on_hand=CARTS, max_per_cart=1)
    env = {"HOLD_TTL_SECONDS": HOLD_TTL_S, "PAYMENT_TTL_SECONDS": 600, "SWEEP_INTERVAL_SECONDS": 1}
    spawn("workers.consumer", **env)
    spawn("workers.consumer", **env)
    spawn("workers.schedule", **env)
    start = threading.Event()
    with serve(app) as host, ThreadPoolExecutor(CARTS) as pool:
        futures = [pool.submit(_cart, host, index, start) for index in range(CARTS)]
        start.set()
        results = [future.result() for future in futures]
    # Every hold is settled one way or the other (the expiries of late checkouts have run).
    assert wait_until(lambda: _no_active_hold_left(services), timeout_s=30)

    expiries = _expiries_by_hold(services)
    ordered = 0
    with services.db.reading() as session:
        for held, checkout in results:
            hold = session.get(Hold, held["hold_id"])
            orders = list(session.scalars(select(Order).where(Order.cart_id == hold.cart_id)))
            if checkout["outcome"] == "order_created":
                ordered += 1
                # Checked out with its hold, while the hold was still live, and never expired.
                assert (hold.status, hold.order_id) == (HoldStatus.ORDERED, checkout["order_id"]), held
                assert [o.id for o in orders] == [checkout["order_id"]]
                assert orders[0].created_at < hold.expires_at, (orders[0].created_at, hold.expires_at)
                assert expiries.get(hold.id, 0) == 0, held
            else:
                # Saw it expired: no order, and its units came back exactly once.
                assert checkout == {"outcome": "holds_expired", "missing": [SKU]}, checkout
                assert hold.status == HoldStatus.EXPIRED, held
                assert orders == []
                assert expiries.get(hold.id, 0) == 1, held
        product = session.get(Product, SKU)
        assert (product.on_hand, product.reserved) == (CARTS, ordered)
    outcomes = {checkout["outcome"] for _held, checkout in results}
    assert outcomes == {"order_created", "holds_expired"}, outcomes  # the race went both ways
    assert_audit_clean(services)
