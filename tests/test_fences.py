"""The fence on checkout lanes: a consumer whose lease was taken over cannot commit a checkout.

(The SKU lanes' fence: tests/test_lanes.py. End to end, with a stalled consumer process on both
lane kinds: the lanes' own tests.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.domain.batches import apply_order_requests
from shop.domain.errors import StaleFence
from shop.domain.inventory import apply_stock_requests
from shop.domain.ledger import current_fence
from shop.domain.requests import OrderKind, QueuedRequest, checkout_lane, sku_lane
from shop.storage.models import AppliedRequest, Hold, HoldStatus, Order

TTL = timedelta(minutes=10)
CART = f"cart{1:036d}"


def test_a_stale_consumer_cannot_commit_a_checkout_after_a_newer_one_applied(services, make_product):
    sku = make_product("FENCE-1", on_hand=5, max_per_cart=5)
    with services.db.writing() as session:
        hold = QueuedRequest("h-1", "hold", {"cart_id": CART, "sku": sku, "qty": 2}, 1)
        apply_stock_requests(session, sku, 1, [hold], TTL)
    lane = checkout_lane(CART, services.config.CHECKOUT_LANES)
    newer = QueuedRequest("expire-none", OrderKind.EXPIRE_ORDER, {"order_id": "ord_none", "cart_id": CART}, 1)
    with services.db.writing() as session:
        apply_order_requests(session, lane, 7, [newer], TTL)

    stale = QueuedRequest("checkout-stale", OrderKind.CHECKOUT, {"cart_id": CART, "key": "k"}, 2)
    with services.db.writing() as session, pytest.raises(StaleFence):
        apply_order_requests(session, lane, 6, [stale], TTL)

    with services.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert session.scalars(select(Hold)).one().status == HoldStatus.ACTIVE
        assert session.get(AppliedRequest, "checkout-stale") is None
        assert current_fence(session, lane) == 7
        assert current_fence(session, sku_lane(sku)) == 1
    # The lane's current holder still checks the cart out.
    with services.db.writing() as session:
        [outcome] = apply_order_requests(session, lane, 7, [stale], TTL)
    assert outcome["outcome"] == "order_created"
