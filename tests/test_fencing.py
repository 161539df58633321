"""Fencing tokens come from the database: increasing across Redis restarts, so a stale one is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import TestConfig
from shop.domain.effects import BatchEffects
from shop.domain.errors import StaleFence
from shop.domain.inventory import apply_stock_requests
from shop.domain.requests import QueuedRequest, sku_lane
from shop.lanes.keys import lane_key
from shop.services import build_services
from shop.storage.models import AppliedRequest, Order, Product
from tests.helpers import assert_audit_clean, wait_until
from workers.consumer import Consumer

SKU = "FENCE-1"
LANE = sku_lane(SKU)
TTL = timedelta(minutes=10)


@pytest.fixture
def restartable(config, own_redis, make_product):
    """Services on a Redis of the test's own, which it may restart (losing every key)."""
    make_product(SKU, on_hand=5)
    svc = build_services(TestConfig(DATABASE_URL=config.DATABASE_URL, REDIS_URL=own_redis.url))
    yield svc
    svc.close()


def _hold(request_id: str, cart: str) -> QueuedRequest:
    return QueuedRequest(request_id, "hold", {"cart_id": cart * 40, "sku": SKU, "qty": 1}, 1)


def test_fencing_tokens_keep_increasing_across_a_redis_restart(restartable, own_redis):
    stalled = Consumer(restartable, name="stalled").acquire(LANE)
    assert stalled > 0
    own_redis.restart()  # the lease and Redis's counter are gone; the stalled consumer does not know
    newer = Consumer(restartable, name="newer").acquire(LANE)
    assert newer > stalled


def test_a_stalled_consumers_commit_after_a_redis_restart_is_refused_and_changes_nothing(
    restartable, own_redis
):
    stalled = Consumer(restartable, name="stalled").acquire(LANE)
    own_redis.restart()
    newer = Consumer(restartable, name="newer").acquire(LANE)
    with restartable.db.writing() as session, pytest.raises(StaleFence):
        apply_stock_requests(session, SKU, stalled, [_hold("r-stale", "s")], TTL)
    with restartable.db.writing() as session:
        assert apply_stock_requests(session, SKU, newer, [_hold("r-new", "n")], TTL)[0]["outcome"] == "held"
    with restartable.db.reading() as session:
        assert session.get(Product, SKU).reserved == 1
        assert session.get(AppliedRequest, "r-stale") is None


@pytest.mark.parametrize("kind", ["sku", "checkout"])
def test_a_stalled_consumer_whose_lease_expired_cannot_commit_on_either_lane_kind(
    services, make_product, shopper, drain, kind
):
    make_product(SKU, on_hand=5)
    accepted = shopper.add(SKU, 1)
    if kind == "checkout":
        drain()
        accepted = shopper.checkout(key="co-1")
    job_id = accepted.get_json()["job_id"]
    lane = services.lanes.view(job_id).lane
    stalled = Consumer(services, name="stalled")
    token = stalled.acquire(lane)
    taken = services.lanes.take(lane, "stalled", 200, stalled.lease_ms)
    assert [t.job_id for t in taken] == [job_id]
    # The stalled consumer's lease runs out; another consumer takes the lane over.
    services.redis.pexpire(lane_key(lane, "lease"), 1)
    assert wait_until(lambda: not services.redis.exists(lane_key(lane, "lease")), timeout_s=10)
    newer = Consumer(services, name="newer")
    assert newer.acquire(lane) > token
    # The stalled one wakes up and commits its batch: refused, nothing changed.
    assert stalled._apply_batch(lane, token, taken, BatchEffects()) is None
    with services.db.reading() as session:
        assert session.get(AppliedRequest, job_id) is None
        assert session.query(Order).count() == 0
        assert session.get(Product, SKU).reserved == (1 if kind == "checkout" else 0)
    # The new holder applies the request from the in-flight list, once.
    services.redis.delete(lane_key(lane, "lease"))
    services.lanes.resume(lane)
    drain()
    outcome = services.lanes.view(job_id).result["outcome"]
    assert outcome == ("order_created" if kind == "checkout" else "held")
    with services.db.reading() as session:
        assert session.query(Order).count() == (1 if kind == "checkout" else 0)
        assert session.get(Product, SKU).reserved == 1
    assert_audit_clean(services)
