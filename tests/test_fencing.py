"""Fencing tokens come from the database: increasing across Redis restarts, so a stale one is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import TestConfig
from devtools.redis_server import RedisServer
from shop.errors import StaleFence
from shop.inventory import apply_stock_requests, sku_lane
from shop.ledger import QueuedRequest
from shop.models import AppliedRequest, Product
from shop.services import build_services
from workers.consumer import Consumer

SKU = "FENCE-1"
LANE = sku_lane(SKU)
TTL = timedelta(minutes=10)


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.stop()


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
