"""Holds and unpaid orders give their units back: on schedule, and via the sweeper if the schedule is lost."""

from __future__ import annotations

import time
from datetime import timedelta

from rq.registry import FinishedJobRegistry
from rq_scheduler import Scheduler

from shop.domain.inventory import apply_stock_requests
from shop.domain.ledger import current_fence
from shop.domain.requests import QueuedRequest, sku_lane
from shop.lanes.expiry import sweep
from shop.storage.models import Hold, HoldStatus, Order, OrderStatus, utcnow
from tests.helpers import assert_audit_clean, product_row, wait_until


def test_held_units_return_when_the_hold_expires(config, services, shopper, make_product, spawn):
    config.HOLD_TTL_SECONDS = 2
    config.SWEEP_INTERVAL_SECONDS = 3600  # only the scheduled expiry can do it
    make_product("EXP-1", on_hand=4)
    spawn("workers.consumer")
    spawn("workers.schedule")
    accepted = shopper.add("EXP-1", 3)
    assert wait_until(lambda: product_row(services, "EXP-1").available == 1, timeout_s=15)
    assert shopper.result(accepted)["outcome"] == "held"
    started = time.monotonic()
    # reserved, not available: available counts an overdue hold as free before its expiry applies.
    assert wait_until(lambda: product_row(services, "EXP-1").reserved == 0, timeout_s=10)
    assert time.monotonic() - started < 8
    with services.db.reading() as session:
        assert session.query(Hold).one().status == HoldStatus.EXPIRED
    line = shopper.cart().get_json()["items"][0]
    assert (line["status"], line["seconds_left"]) == ("expired", 0)
    assert_audit_clean(services)


def test_held_units_return_through_the_sweeper_when_the_schedule_is_lost(
    config, services, shopper, make_product, spawn, drain
):
    config.HOLD_TTL_SECONDS = 2
    config.SWEEP_INTERVAL_SECONDS = 1
    make_product("EXP-2", on_hand=4)
    shopper.add("EXP-2", 2)
    drain()
    scheduled = services.redis.zrange(Scheduler.scheduled_jobs_key, 0, -1)
    assert len(scheduled) == 1
    services.redis.delete(Scheduler.scheduled_jobs_key, *[b"rq:job:" + job_id for job_id in scheduled])
    spawn("workers.consumer")
    spawn("workers.schedule")
    # Reserved, not available: available counts an overdue hold as free before anything expires it.
    assert wait_until(lambda: product_row(services, "EXP-2").reserved == 0, timeout_s=15)
    with services.db.reading() as session:
        assert session.query(Hold).one().status == HoldStatus.EXPIRED
    assert_audit_clean(services)


def test_expiring_a_hold_twice_changes_nothing_the_second_time(services, make_product):
    make_product("EXP-3", on_hand=4)
    now = utcnow()
    hold = QueuedRequest("h-1", "hold", {"cart_id": "c" * 40, "sku": "EXP-3", "qty": 2}, 1)
    with services.db.writing() as session:
        hold_id = apply_stock_requests(session, "EXP-3", 1, [hold], timedelta(seconds=1), now)[0]["hold_id"]
    later = now + timedelta(seconds=5)
    expire = [
        QueuedRequest(f"x-{i}", "expire_hold", {"hold_id": hold_id, "sku": "EXP-3"}, 2 + i) for i in range(2)
    ]
    with services.db.writing() as session:
        outcomes = apply_stock_requests(session, "EXP-3", 1, expire, timedelta(seconds=1), later)
    assert [o["outcome"] for o in outcomes] == ["expired", "noop"]
    assert product_row(services, "EXP-3").available == 4
    assert_audit_clean(services)


def test_an_expiry_that_arrives_after_checkout_is_a_no_op(services, shopper, make_product, drain):
    make_product("EXP-4", on_hand=4)
    shopper.add("EXP-4", 2)
    drain()
    shopper.checkout()
    drain()
    with services.db.reading() as session:
        hold = session.query(Hold).one()
    expire = QueuedRequest("late", "expire_hold", {"hold_id": hold.id, "sku": "EXP-4"}, 99)
    with services.db.reading() as session:
        token = current_fence(session, sku_lane("EXP-4"))  # the last consumer's, as a manual apply does
    with services.db.writing() as session:
        outcome = apply_stock_requests(
            session, "EXP-4", token, [expire], timedelta(seconds=1), utcnow() + timedelta(hours=1)
        )[0]
    assert outcome == {"outcome": "noop", "hold_id": hold.id, "reason": "hold is ordered"}
    assert product_row(services, "EXP-4").available == 2
    assert_audit_clean(services)


def test_an_unpaid_order_returns_its_units_after_the_payment_deadline(
    config, services, shopper, make_product, spawn, drain
):
    config.PAYMENT_TTL_SECONDS = 2
    make_product("EXP-5", on_hand=3)
    shopper.add("EXP-5", 2)
    drain()
    shopper.checkout()
    drain()
    assert product_row(services, "EXP-5").available == 1
    spawn("workers.consumer", PAYMENT_TTL_SECONDS=2)
    spawn("workers.schedule", PAYMENT_TTL_SECONDS=2)
    assert wait_until(lambda: product_row(services, "EXP-5").available == 3, timeout_s=15)
    with services.db.reading() as session:
        assert session.query(Order).one().status == OrderStatus.EXPIRED
        assert session.query(Hold).one().status == HoldStatus.EXPIRED
    assert_audit_clean(services)


def test_the_sweep_forgets_finished_jobs_past_their_ttl_so_redis_returns_to_its_baseline(
    services, shopper, make_product, drain
):
    # RQ's own workers prune their FinishedJobRegistry as they go; the lanes' consumer does not,
    # so after a sale every decided request stayed listed (4 MiB for 20,000 jobs in the growth bench).
    make_product("FLASH-1", on_hand=3)
    shopper.add("FLASH-1", 1)
    drain()
    registry = FinishedJobRegistry(sku_lane("FLASH-1"), connection=services.redis)
    assert registry.count == 1
    later = utcnow() + timedelta(seconds=services.config.RESULT_TTL_SECONDS + 5)
    counts = sweep(services.db, services.lanes, services.config.CHECKOUT_LANES, now=later)
    assert counts["finished_forgotten"] == 1
    assert registry.count == 0
