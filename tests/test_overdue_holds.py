"""A hold past its expiry holds nothing: each batch frees overdue holds first; every view counts them free.

The batches are applied with an explicit ``now`` so "after the expiry, before its job ran" needs no
sleeping: the scheduled expiry and the sweeper have not run, as when they are late.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shop.domain.inventory import apply_stock_requests
from shop.domain.requests import QueuedRequest
from shop.storage.models import Hold, HoldStatus, WaitlistEntry, WaitlistStatus, utcnow
from tests.helpers import assert_audit_clean, product_row

SKU = "OVERDUE-1"
TTL = timedelta(seconds=10)
WAITLIST_TTL = timedelta(minutes=15)


def _cart(name: str) -> str:
    return name * 40


class Line:
    """Requests for one SKU, each with the next ticket, applied in batches at chosen moments."""

    def __init__(self, services) -> None:
        self.services = services
        self.ticket = 0
        self.start = utcnow()

    def hold(self, cart: str, qty: int = 1, **extra) -> QueuedRequest:
        return self._request("hold", {"cart_id": _cart(cart), "sku": SKU, "qty": qty, **extra})

    def set_qty(self, cart: str, qty: int) -> QueuedRequest:
        return self._request("set_quantity", {"cart_id": _cart(cart), "sku": SKU, "qty": qty})

    def expire(self, hold_id: int) -> QueuedRequest:
        return self._request("expire_hold", {"hold_id": hold_id, "sku": SKU})

    def _request(self, kind: str, params: dict) -> QueuedRequest:
        self.ticket += 1
        return QueuedRequest(f"{kind}-{self.ticket}", kind, params, self.ticket)

    def apply(self, *requests: QueuedRequest, at_s: float = 0) -> list[str]:
        with self.services.db.writing() as session:
            outcomes = apply_stock_requests(
                session, SKU, 1, list(requests), TTL, self.start + timedelta(seconds=at_s),
                waitlist_ttl=WAITLIST_TTL,
            )  # fmt: skip
        self.last = outcomes
        return [o["outcome"] for o in outcomes]


@pytest.fixture
def line(services, make_product):
    make_product(SKU, on_hand=1, max_per_cart=2)
    return Line(services)


def test_a_request_just_after_a_holds_expiry_gets_the_unit_before_the_expiry_job_ran(services, line):
    assert line.apply(line.hold("a")) == ["held"]
    assert line.apply(line.hold("b"), at_s=10.03) == ["held"]
    with services.db.reading() as session:
        statuses = {h.cart_id[0]: h.status for h in session.query(Hold)}
    assert statuses == {"a": HoldStatus.EXPIRED, "b": HoldStatus.ACTIVE}
    assert product_row(services, SKU).reserved == 1
    assert_audit_clean(services)


def test_the_expired_holds_own_cart_re_adding_waits_its_turn_behind_earlier_requests(services, line):
    line.apply(line.hold("a"))
    assert line.apply(line.hold("b"), line.hold("a"), at_s=11) == ["held", "sold_out"]
    assert_audit_clean(services)


def test_the_expired_holds_own_cart_cannot_renew_it_by_setting_the_quantity(services, line):
    line.apply(line.hold("a"))
    assert line.apply(line.hold("b"), line.set_qty("a", 1), at_s=11) == ["held", "sold_out"]
    assert_audit_clean(services)


def test_units_of_an_overdue_hold_go_to_the_oldest_waitlist_entry_before_the_line(services, line):
    line.apply(line.hold("a"))
    assert line.apply(line.hold("w", waitlist=True), at_s=1) == ["waitlisted"]
    assert line.apply(line.hold("a"), line.hold("c"), at_s=11) == ["sold_out", "sold_out"]
    with services.db.reading() as session:
        entry = session.query(WaitlistEntry).one()
        assert entry.status == WaitlistStatus.SERVED
        live = session.query(Hold).filter_by(status=HoldStatus.ACTIVE).one()
        assert live.cart_id == _cart("w")
    assert_audit_clean(services)


def test_every_overdue_hold_of_the_sku_is_freed_in_the_batch_whoever_asks(services, make_product):
    make_product(SKU, on_hand=3, max_per_cart=2)
    line = Line(services)
    line.apply(line.hold("a"), line.hold("b"), line.hold("c"))
    assert line.apply(line.hold("d", 2), at_s=12) == ["held"]
    with services.db.reading() as session:
        expired = session.query(Hold).filter_by(status=HoldStatus.EXPIRED).count()
    assert expired == 3
    assert product_row(services, SKU).reserved == 2
    assert_audit_clean(services)


def test_the_scheduled_expiry_after_a_batch_freed_the_hold_returns_nothing_twice(services, line):
    line.apply(line.hold("a"))
    hold_id = line.last[0]["hold_id"]
    line.apply(line.hold("b"), at_s=11)
    assert line.apply(line.expire(hold_id), at_s=12) == ["noop"]
    assert product_row(services, SKU).reserved == 1
    assert_audit_clean(services)


def test_the_catalog_and_product_page_count_an_overdue_hold_as_available(services, client, line):
    line.start = utcnow() - timedelta(seconds=30)
    line.apply(line.hold("a"))
    assert product_row(services, SKU).reserved == 1
    item = client.get(f"/catalogs/{SKU}").get_json()
    assert item["available"] == 1
    listed = client.get("/catalogs?sortBy=available&sortDir=desc").get_json()["items"]
    assert [i["available"] for i in listed if i["sku"] == SKU] == [1]
    page = client.get(f"/p/{SKU}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert_audit_clean(services)
