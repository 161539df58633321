"""A pause lives in the database; Redis only caches it, so a Redis restart keeps a paused SKU paused.

The restart is real (the server is stopped and started again without persistence). That the
paused SKU's request was not applied is proved by a later event: one consumer serves lanes in
the order they were announced, and the other SKU's request, admitted after it, is applied.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from config import TestConfig
from shop import create_app
from shop.domain.catalog import find_product
from shop.domain.products import create_or_update_product
from shop.domain.requests import sku_lane
from shop.lanes.admission import cache_product, request_hold
from shop.services import build_services
from shop.storage.models import Hold, LanePause
from shop.web.schemas.products import product_change
from tests.helpers import OPERATOR_HEADERS
from workers.consumer import Consumer

PAUSED, OPEN = "PAUSE-1", "OPEN-1"


@pytest.fixture
def shop(config, services, own_redis):
    """Services, an app and two products on a Redis of this test's own, which it may restart."""
    cfg = TestConfig(DATABASE_URL=config.DATABASE_URL, REDIS_URL=own_redis.url)
    svc = build_services(cfg)
    for sku in (PAUSED, OPEN):
        change = product_change({"name": sku, "category": "test", "price": 1000, "on_hand": 5})
        with svc.db.writing() as session:
            product, _created = create_or_update_product(session, sku, change)
        cache_product(svc, product)
    yield svc, create_app(cfg, services=svc).test_client()
    svc.close()


def holds(svc, sku: str) -> int:
    with svc.db.reading() as session:
        return len(session.scalars(select(Hold).where(Hold.sku == sku)).all())


def test_pause_and_resume_are_recorded_in_the_database(shop):
    svc, client = shop

    assert client.post(f"/admin/skus/{PAUSED}/pause", headers=OPERATOR_HEADERS).status_code == 200
    with svc.db.reading() as session:
        assert session.get(LanePause, sku_lane(PAUSED)).paused is True
    assert client.post(f"/admin/skus/{PAUSED}/resume", headers=OPERATOR_HEADERS).status_code == 200
    with svc.db.reading() as session:
        row = session.get(LanePause, sku_lane(PAUSED))
        assert row.paused is False and row.version == 2


def test_a_paused_sku_stays_paused_after_a_redis_restart(shop, own_redis):
    svc, client = shop
    assert client.post(f"/admin/skus/{PAUSED}/pause", headers=OPERATOR_HEADERS).status_code == 200

    own_redis.restart()
    waiting = client.post("/chart", json={"sku": PAUSED, "qty": 1})
    later = client.post("/chart", json={"sku": OPEN, "qty": 1})
    assert waiting.status_code == 202 and later.status_code == 202
    Consumer(svc).run(burst=True)

    assert svc.lanes.view(later.get_json()["job_id"]).result["outcome"] == "held"
    assert svc.lanes.view(waiting.get_json()["job_id"]).status == "queued"
    assert holds(svc, PAUSED) == 0
    board = {
        row["sku"]: row for row in client.get("/admin/skus", headers=OPERATOR_HEADERS).get_json()["skus"]
    }
    assert board[PAUSED]["paused"] is True

    assert client.post(f"/admin/skus/{PAUSED}/resume", headers=OPERATOR_HEADERS).status_code == 200
    Consumer(svc).run(burst=True)
    assert svc.lanes.view(waiting.get_json()["job_id"]).result["outcome"] == "held"


def test_a_consumer_rewarms_the_pause_when_only_the_product_cache_was_rewarmed(shop, own_redis):
    svc, client = shop
    assert client.post(f"/admin/skus/{PAUSED}/pause", headers=OPERATOR_HEADERS).status_code == 200
    own_redis.restart()
    # An operator's product change warms the product cache again, but not the pause.
    for sku in (PAUSED, OPEN):
        with svc.db.reading() as session:
            cache_product(svc, find_product(session, sku))

    waiting = request_hold(svc, "a" * 40, PAUSED, 1)
    later = request_hold(svc, "b" * 40, OPEN, 1)
    Consumer(svc).run(burst=True)

    assert svc.lanes.view(later.job_id).result["outcome"] == "held"
    assert svc.lanes.view(waiting.job_id).status == "queued"
    assert svc.lanes.is_paused(sku_lane(PAUSED))
